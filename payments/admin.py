from payments import (
    payment_admin,  # noqa: F401 - registers the payment side's admin
    storefront_admin,  # noqa: F401 - registers the storefront admin
)
