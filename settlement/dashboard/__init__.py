"""The sellers' settlements dashboard: where a seller's money is (balances, the next payout, the
last payouts, sales by day) and its batches, payouts and exports. Pages in views.py, reads in
selectors.py, the daily totals and their job in daily_totals.py."""
