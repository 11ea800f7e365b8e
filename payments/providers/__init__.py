"""Payment providers: one interface (base.py), sandboxes for card and wallets, and the platform's
own bank account. Look them up through registry.py."""
