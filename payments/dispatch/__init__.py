"""The fan-out of committed order events: seal the paid orders' documents, then webhooks and
emails. The top layer of payments; orders hands events to it through orders/fanout.py."""
