from payments import (
    payment_admin,  # noqa: F401 - registers the payment side's admin
    storefront_admin,  # noqa: F401 - registers the storefront admin
    webhook_admin,  # noqa: F401 - registers webhook endpoints, deliveries and sent emails
)
