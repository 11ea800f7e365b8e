from payments import (
    payment_admin,  # noqa: F401 - registers the payment side's admin
    release_admin,  # noqa: F401 - refunds and disputes
    storefront_admin,  # noqa: F401 - registers the storefront admin
)
