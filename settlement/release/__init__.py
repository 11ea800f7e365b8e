"""Escrow release: the buyer confirms receipt (page, API), the window lapses (beat task), or
staff resolve a dispute for the seller (through payments.fulfilment.confirmation)."""
