"""The two-sided confirmation of a paid payout (step 7), and the confirmation record (step 8).

models.py         Acknowledgement (one per side asked), ConfirmationRecord (stored complete)
statements.py     what each side signs; the window; the buyer's platform-held key
services.py       ask, answer (signed), dispute (a case), resolve, lapse; the record
records.py        storing a complete record and appending it to the ledger's log
notifications.py  asking and reminding (webhook, email, order event)
tasks.py          the Celery tasks and the sweeper
api.py, views.py  the API and the pages (with settlement_tags.acknowledgements_panel)
"""
