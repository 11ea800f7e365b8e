"""ISO 20022 files the platform exchanges with banks that take files.

- pain001: a batch's payouts as a pain.001.001.09 customer credit transfer initiation (written).
- camt053: a bank-to-customer statement, camt.053.001.02 to .08 (read).

Pure functions over plain values: no models, no database, no network. The payouts code calls them
with its own rows; errors are core.errors ApplicationErrors (errors.py).
"""
