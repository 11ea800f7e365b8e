from payments import payment_admin  # noqa: F401 - registers the payment side's admin
