"""Payments: the state machine (transitions.py, state.py) and its steps, each in its module
(start, authorize, capture, provider_events, expiry, bank_arrivals, notifications), with the
PL/pgSQL functions beside the step they implement (*_plpgsql.py and the .sql files); the
payment pages, API, admin and tasks. Stands on providers, vault, orders and catalog."""
