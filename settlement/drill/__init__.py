"""The payout fault drill (`manage.py settlement_drill`): pays a few hundred batches through a real
stack while the bank misbehaves and processes are SIGKILLed, then proves from the bank's own
records and the ledger that every payout was paid at most once and none was lost.

    database.py    its own PostgreSQL database
    processes.py   child processes: own process groups, logs, kill, restart, stop
    stack.py       the workers, web server and bank of a run, its queue and settings
    world.py       sellers, bank accounts, released money and batches, through the services
    runner.py      the run: faults, kills, the sweeper, waiting for every payout to be final
    reconcile.py   the bank's records against the platform's rows and ledger; ledger_verify
"""
