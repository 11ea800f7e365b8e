from payments import (
    acceptance_admin,  # noqa: F401 - registers the sealed order documents (read-only)
    payment_admin,  # noqa: F401 - registers the payment side's admin
    release_admin,  # noqa: F401 - refunds and disputes
    storefront_admin,  # noqa: F401 - registers the storefront admin
    webhook_admin,  # noqa: F401 - registers webhook endpoints, deliveries and sent emails
)
