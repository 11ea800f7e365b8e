"""The catalogue: a seller's products and their stock (models, services, the seller's product
pages, the demo catalogue). The lowest layer of payments: it imports no other sub-package."""
