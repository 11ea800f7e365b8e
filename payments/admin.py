"""Django's admin autodiscovery imports `<app>.admin` only: the sub-packages' admin modules
register their models when imported here."""

from payments.catalog import admin as catalog_admin
from payments.checkout import admin as checkout_admin
from payments.emails import admin as emails_admin
from payments.flows import admin as flows_admin
from payments.fulfilment import admin as fulfilment_admin
from payments.orders import admin as orders_admin
from payments.providers import admin as providers_admin
from payments.vault import admin as vault_admin
from payments.webhooks import admin as webhooks_admin

ADMIN_MODULES = (
    catalog_admin,  # products (price and stock read-only)
    checkout_admin,  # carts, their items and checkout sessions
    emails_admin,  # emails sent
    flows_admin,  # payments and their events, wallet notifications, bank transfer arrivals
    fulfilment_admin,  # sealed order documents, refunds, disputes
    orders_admin,  # orders, sub-orders, their lines and events (read-only)
    providers_admin,  # the sandbox processors' own records (read-only)
    vault_admin,  # vaulted cards
    webhooks_admin,  # webhook endpoints, deliveries and attempts
)
