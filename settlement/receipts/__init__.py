"""Receipts: the platform's signed, sealed record of one seller's part of an order.

    format.py     the receipt and confirmation-record objects (docs/receipts.md), built from facts
    facts.py      what is known about a sub-order, read from payments, the ledger and settlement
    models.py     Receipt: each issued receipt's exact signed bytes, never changed
    services.py   issuing (a new receipt only when the facts changed) and the receipt file
    pdf.py        the receipt as a PDF (fpdf2), the signed JSON file embedded
    api.py, views.py, urls: the JSON download, the printable page and the PDF; buyer and seller
                  their own

A receipt is canonical JSON signed by the platform's key and appended to the ledger's log as a
record of kind "receipt"; once a seal covers it, the receipt file carries its inclusion proof and
that signed tree head. tools/verify_receipt.py checks all of it offline.
"""
