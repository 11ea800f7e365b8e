"""The storefront: shop, cart, checkout, hosted checkout sessions, the buyer's order pages, the
orders and checkout sessions API. Stands on fulfilment and everything below it."""
