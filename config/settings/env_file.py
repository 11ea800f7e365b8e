"""Reading the optional .env file: local and production settings call this before importing base.

Test settings never read it, so a developer's .env cannot change what the suite does.
CLEARHOUSE_ENV_FILE names another file; set it to "" to read none.
"""

import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def read_env_file() -> None:
    """Values already in the environment win over the file's (environ.Env.read_env uses setdefault)."""
    path = os.environ.get("CLEARHOUSE_ENV_FILE", str(BASE_DIR / ".env"))
    if path and Path(path).is_file():
        environ.Env.read_env(path)
