-- The card authorisation fast path (filled in by the authorize work; see payments/fastpath.py).
SELECT 1;
