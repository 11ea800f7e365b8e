"""Local development: the default. The embedded PostgreSQL and a filesystem broker unless the env
says otherwise (DATABASE_URL, REDIS_URL)."""

import base64

from .env_file import read_env_file

read_env_file()

from .base import *  # noqa: E402, F403
from .base import VAR_DIR, database_from_env, env  # noqa: E402
from .dev_keys import derived, load_or_create  # noqa: E402

DATABASES = {"default": database_from_env()}
# On for `manage.py runserver` by hand; `make run` (Procfile) turns it off, so it shows the pages a
# user would see (the site's error pages, not Django's debug page). DJANGO_DEBUG=1 overrides.
DEBUG = env.bool("DJANGO_DEBUG", default=True)
_dev_keys = load_or_create(VAR_DIR / "dev-keys.json")
SECRET_KEY = env("DJANGO_SECRET_KEY", default=_dev_keys["secret_key"])
CLEARHOUSE_MASTER_KEYS = env("CLEARHOUSE_MASTER_KEYS", default=_dev_keys["master_keys"])
CLEARHOUSE_SIGNING_KEY = env("CLEARHOUSE_SIGNING_KEY", default=_dev_keys["signing_key"])
ALLOWED_HOSTS = ["*"]
# Webhook receivers on 127.0.0.1 (the production default refuses private addresses).
CLEARHOUSE_WEBHOOKS_ALLOW_PRIVATE = env.bool("CLEARHOUSE_WEBHOOKS_ALLOW_PRIVATE", default=True)
# The platform's key for the sandbox bank, the bank's callback secret and its operator token.
CLEARHOUSE_BANK_SIGNING_KEY = env(
    "CLEARHOUSE_BANK_SIGNING_KEY",
    default=base64.b64encode(derived(_dev_keys, "sandbox-bank/request-signing")).decode(),
)
CLEARHOUSE_BANK_WEBHOOK_SECRET = env(
    "CLEARHOUSE_BANK_WEBHOOK_SECRET",
    default="whsec_" + base64.b64encode(derived(_dev_keys, "sandbox-bank/callbacks")).decode(),
)
SANDBOX_BANK_ADMIN_TOKEN = env(
    "SANDBOX_BANK_ADMIN_TOKEN", default=derived(_dev_keys, "sandbox-bank/admin").hex()
)
