"""`python -m sandbox_bank --port 8765`: the bank on its own, configured by its environment
(sandbox_bank/config.py). On the platform's side `manage.py run_sandbox_bank` starts it with the
keys and URLs taken from the platform's settings."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from .config import config_from_env
from .server import serve
from .store import reset_database


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox_bank", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--db", type=Path, help="SQLite file (default: SANDBOX_BANK_DB)")
    parser.add_argument("--reset", action="store_true", help="delete the bank's database first")
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = config_from_env()
    if options.db:
        config.db_path = options.db
    if options.reset:
        reset_database(config.db_path)
    serve(config, host=options.host, port=options.port)


if __name__ == "__main__":
    main()
