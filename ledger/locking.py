"""The ledger's one lock order (no code here: the posting functions and the folder follow it).

1. Accounts with a limit flag, ascending id, FOR NO KEY UPDATE (the strength UPDATE itself takes: it
   does not block the FOR KEY SHARE that foreign-key checks of concurrent inserts take), before
   any write: the posting functions (ledger/sql/) take them first.
2. Nothing else is locked by posting. Accounts without a limit receive BalanceDelta rows instead of
   an UPDATE, so they are never locked by posters; closing a pending transfer twice is stopped by the
   `ledger_transfer_close_once` unique index, which makes the loser fail and retry into a clean error.
3. The delta folder (ledger.services.ledger_fold_deltas) locks delta rows (SKIP LOCKED) and then
   accounts without limits, ascending id. Posters never lock those accounts and the folder never
   locks limit accounts, so the two cannot deadlock; folders among themselves take accounts in the
   same order.
"""
