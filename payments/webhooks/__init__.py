"""Outgoing webhooks: endpoints, signing secrets, deliveries and their attempts, HTTP, the events
API. Beside emails (neither imports the other), above checkout."""
