"""core.crypto is the only importer of pycryptodome: one place to review, audit and replace.

One exception, by design: tools/verify_receipt.py, the offline receipt verifier that must run on
its own with nothing but the standard library and pycryptodome (docs/receipts.md).
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".venv", "venv", "node_modules", "var", ".git", "static"}
IMPORT = re.compile(r"^\s*(from|import)\s+Crypto(\.|\s|$)", re.MULTILINE)
STANDALONE = {Path("tools/verify_receipt.py")}


def test_only_core_crypto_imports_pycryptodome():
    crypto_package = ROOT / "core" / "crypto"
    offenders = []
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if SKIP_DIRS.intersection(relative.parts) or crypto_package in path.parents:
            continue
        if relative in STANDALONE:
            continue
        if IMPORT.search(path.read_text(encoding="utf-8", errors="replace")):
            offenders.append(str(relative))
    assert offenders == []


def test_the_scan_would_notice_an_import():
    assert IMPORT.search("from Crypto.Cipher import AES\n")
    assert IMPORT.search("import Crypto\n")
    assert not IMPORT.search("from core.crypto import seal\n")
