"""The API's shared parts: errors (the one error shape), idempotency (Idempotency-Key middleware),
pagination (cursor, newest first), throttling (anon/user/sensitive rates), mixins, schema (OpenAPI)."""
