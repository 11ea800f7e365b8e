"""The receipt as a PDF (fpdf2, pure Python): the same receipt file as the JSON download, laid
out for people, with the signed JSON file embedded as an attachment so that the PDF alone is
enough to verify (extract it, then run tools/verify_receipt.py).

    receipt_pdf(document) -> bytes

The PDF is a rendering, not a signed object: what is signed is the receipt's canonical JSON.
fpdf2's core fonts cover Latin-1 only; other characters (a name in another script) are written
as "?" here, and stay exact in the embedded JSON.
"""

from __future__ import annotations

import json
from decimal import Decimal

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from core.money import currency_exponent

FONT = "Helvetica"
LABEL_WIDTH = 48
LINE = 5.5


def _latin1(text: object) -> str:
    value = "" if text is None else str(text)
    replacements = {"\u2014": "-", "\u2013": "-", "\u00b7": "-", "\u2019": "'", "\u20ac": "EUR"}
    for old, new in replacements.items():
        value = value.replace(old, new)
    return value.encode("latin-1", "replace").decode("latin-1")


def _amount(minor: int | None, currency: str) -> str:
    if minor is None:
        return "-"
    exponent = currency_exponent(currency)
    major = Decimal(minor).scaleb(-exponent)
    return f"{major:.{exponent}f} {currency}"


class _Receipt(FPDF):
    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(FONT, size=7)
        self.cell(
            0,
            6,
            _latin1(
                f"Page {self.page_no()}/{{nb}} - verify the embedded receipt.json offline with "
                "tools/verify_receipt.py and /.well-known/clearhouse-keys.json"
            ),
            align="C",
        )


def _row(pdf: FPDF, label: str, value: object, *, mono: bool = False) -> None:
    pdf.set_font(FONT, style="B", size=9)
    pdf.cell(LABEL_WIDTH, LINE, _latin1(label))
    pdf.set_font("Courier" if mono else FONT, size=8 if mono else 9)
    pdf.multi_cell(0, LINE, _latin1(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _heading(pdf: FPDF, text: str) -> None:
    pdf.ln(3)
    pdf.set_font(FONT, style="B", size=12)
    pdf.cell(0, 8, _latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _acknowledgement(pdf: FPDF, who: str, ack: dict) -> None:
    parts = [ack.get("state") or "-"]
    if ack.get("at"):
        parts.append(ack["at"])
    if ack.get("answer"):
        parts.append(f"answer: {ack['answer']}")
    signature = ack.get("signature")
    if signature:
        parts.append(f"{signature.get('algorithm')} key {signature.get('key_fingerprint')}")
    _row(pdf, f"{who} acknowledgement", " - ".join(parts))


def receipt_pdf(document: dict) -> bytes:
    """The receipt file (settlement.receipts.services.receipt_file) as PDF bytes."""
    receipt = document["receipt"]
    currency = receipt["currency"]
    pdf = _Receipt(format="A4")
    pdf.set_title(_latin1(f"Receipt {receipt['order']['number']}"))
    pdf.set_creator("Clearhouse")
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.set_font(FONT, style="B", size=16)
    pdf.cell(
        0,
        10,
        _latin1(f"Receipt - order {receipt['order']['number']}"),
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.set_font(FONT, size=10)
    status = (
        "Final receipt: both sides confirmed."
        if receipt["status"] == "final"
        else "Provisional receipt: the confirmation of the transfer is not complete yet."
    )
    pdf.multi_cell(0, LINE, _latin1(status), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    _row(pdf, "Receipt", f"{receipt['receipt_id']} (no. {receipt['sequence']})", mono=True)
    _row(pdf, "Issued", receipt["issued_at"])
    _row(pdf, "Buyer", f"{receipt['buyer']['display_name']} ({receipt['buyer']['id']})")
    _row(pdf, "Seller", f"{receipt['seller']['display_name']} ({receipt['seller']['id']})")
    for label, key in (
        ("Ordered", "ordered_at"),
        ("Accepted", "accepted_at"),
        ("Shipped", "shipped_at"),
        ("Receipt confirmed", "confirmed_at"),
    ):
        if receipt["times"].get(key):
            _row(pdf, label, receipt["times"][key])

    _heading(pdf, "Items")
    for item in receipt["items"]:
        _row(
            pdf,
            f"{item['quantity']} x {_amount(item['unit_price_minor'], currency)}",
            f"{item['title']} - {_amount(item['amount_minor'], currency)}",
        )
    amounts = receipt["amounts"]
    for label, key in (
        ("Total", "total_minor"),
        ("Paid", "captured_minor"),
        ("Refunded", "refunded_minor"),
        ("Platform fee", "fee_minor"),
        ("Net to seller", "net_to_seller_minor"),
    ):
        _row(pdf, label, _amount(amounts.get(key), currency))
    for refund in receipt["refunds"]:
        _row(pdf, "Refund", f"{_amount(refund['amount_minor'], currency)} - {refund['status']}")

    _heading(pdf, "Signatures and confirmation")
    acceptance = receipt.get("acceptance")
    _row(
        pdf,
        "Seller's acceptance",
        f"{acceptance['signature']['algorithm']} signature over order document "
        f"{acceptance['order_document_sha256']}"
        if acceptance
        else "not accepted",
    )
    _row(pdf, "Buyer's confirmation", receipt["buyer_confirmation"]["state"])
    record = receipt["confirmation_record"]
    for payout in record["payouts"]:
        _row(
            pdf,
            "Payout",
            f"{_amount(payout['amount_minor'], payout['currency'])} - {payout['status']}"
            + (f" - bank reference {payout['bank_reference']}" if payout["bank_reference"] else ""),
        )
        _acknowledgement(pdf, "Seller's", payout["seller_acknowledgement"])
        _acknowledgement(pdf, "Buyer's", payout["buyer_acknowledgement"])
    _row(pdf, "Confirmation record", f"{record['state']} - {receipt['confirmation_record_hash']}")

    _heading(pdf, "Proof")
    signature = document["signature"]
    _row(pdf, "Signed by", f"platform key {signature['key_id']} ({signature['algorithm']})")
    _row(pdf, "Signature", signature["value"], mono=True)
    inclusion = document.get("inclusion")
    if inclusion:
        head = inclusion["tree_head"]
        _row(
            pdf,
            "Ledger",
            f"log index {inclusion['log_index']}, sealed in the tree of size "
            f"{head['tree_size']} at {head['sealed_at']}",
        )
        _row(pdf, "Tree root", head["root_hash"], mono=True)
    else:
        _row(pdf, "Ledger", "not sealed yet: fetch the receipt again after the next seal")
    _row(pdf, "Ledger transfers", ", ".join(receipt["ledger_transfer_ids"]) or "none", mono=True)

    # The signed receipt itself, so the PDF carries what a verifier needs.
    pdf.embed_file(
        bytes=json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8"),
        basename="receipt.json",
        mime_type="application/json",
        desc="The signed Clearhouse receipt file (verify with tools/verify_receipt.py)",
    )
    return bytes(pdf.output())
