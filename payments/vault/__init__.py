"""The card vault: cards encrypted at rest (services.py), card number checks (cards.py)."""
