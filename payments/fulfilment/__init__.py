"""After payment: the sealed order document, the seller's acceptance (signature, dashboard),
rejection and shipping, disputes and refunds, the payments half of the buyer's confirmation
(confirmation.py; escrow release itself is settlement's), the seller's order pages and API.
Stands on flows and everything below it."""
