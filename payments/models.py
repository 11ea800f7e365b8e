"""The module Django loads for the payments app: every model of its sub-packages, imported by
name so that Django registers them and `from payments.models import X` works everywhere.

Code inside payments imports a model from its own sub-package's models module (the import
contracts in pyproject.toml keep the sub-packages in layers); this module is for Django, the
migrations' history and callers outside the app.
"""

from payments.catalog.models import Product
from payments.checkout.models import Cart, CartItem
from payments.emails.models import EmailNotification
from payments.flows.models import (
    BankTransferArrival,
    Payment,
    PaymentEvent,
    PaymentMethod,
    PaymentStatus,
    WalletNotification,
    WalletNotificationOutcome,
)
from payments.fulfilment.models import (
    Dispute,
    DisputeOutcome,
    DisputeStatus,
    Refund,
    RefundSource,
    RefundStatus,
    SealedOrderDocument,
)
from payments.orders.models import (
    CheckoutSession,
    CheckoutSessionStatus,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    SubOrder,
    SubOrderStatus,
)
from payments.providers.models import (
    SandboxCardCharge,
    SandboxOperation,
    SandboxWalletNotice,
    SandboxWalletTrade,
)
from payments.vault.models import VaultedCard
from payments.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

__all__ = [
    "BankTransferArrival",
    "Cart",
    "CartItem",
    "CheckoutSession",
    "CheckoutSessionStatus",
    "DeliveryStatus",
    "Dispute",
    "DisputeOutcome",
    "DisputeStatus",
    "EmailNotification",
    "Order",
    "OrderEvent",
    "OrderLine",
    "OrderStatus",
    "Payment",
    "PaymentEvent",
    "PaymentMethod",
    "PaymentStatus",
    "Product",
    "Refund",
    "RefundSource",
    "RefundStatus",
    "SandboxCardCharge",
    "SandboxOperation",
    "SandboxWalletNotice",
    "SandboxWalletTrade",
    "SealedOrderDocument",
    "SubOrder",
    "SubOrderStatus",
    "VaultedCard",
    "WalletNotification",
    "WalletNotificationOutcome",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
