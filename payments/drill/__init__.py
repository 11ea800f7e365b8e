"""The payments fault drill (`manage.py payments_drill`): card payments through the real stack
(gunicorn, a Celery worker, beat with the normal schedule, Redis, PostgreSQL) while database
backends are killed and the worker is SIGKILLed, by clients that retry as a careful client does;
then every payment is checked against the processor's records and the ledger.

    database.py   the run's own database (made, migrated, dropped), never the developer's
    stack.py      the processes, each with its own application_name (the faults' targets)
    clients.py    the careful clients: one Idempotency-Key per operation, retried until an answer
    faults.py     backends terminated every few seconds; the worker SIGKILLed once
    reconcile.py  the platform against the processor and the ledger; the summary line
    runner.py     all of it in order
"""
