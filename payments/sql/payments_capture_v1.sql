-- The capture fast path (filled in by the capture work; see payments/fastpath.py).
SELECT 1;
