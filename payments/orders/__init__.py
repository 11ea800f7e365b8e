"""Orders: an Order with a SubOrder per seller and their lines, stock reservation and release,
expiry, the sub-orders' state machine, what a payment's outcome does to its order, and the order
event log (events.py) with its outbox relay. Stands on catalog."""
