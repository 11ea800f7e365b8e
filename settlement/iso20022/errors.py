"""The errors of ISO 20022 files: one class per direction, a specific `code` per cause.

`field` says where: the input of the pain.001 writer ("payments[3].creditor_iban"), or the place
in a statement ("Stmt[1]/Ntry[4]/Amt"). Nothing is written or changed when one is raised.
"""

from __future__ import annotations

from core.errors import ValidationError


class InvalidCreditTransfer(ValidationError):
    """The payouts cannot be written as a pain.001 credit transfer file."""

    code = "invalid_credit_transfer"


class InvalidStatement(ValidationError):
    """The bank statement is not a camt.053 this platform can read."""

    code = "invalid_statement"


class UnsafeXml(InvalidStatement):
    """The document declares a DTD, entities or external references: refused unread."""

    code = "unsafe_xml"
