"""The lifecycle emails to buyers and sellers. Beside webhooks (neither imports the other), above
checkout."""
