"""Local development: the default. Embedded SQLite and filesystem broker unless the env says otherwise."""

from .base import *  # noqa: F403
from .base import VAR_DIR, env
from .dev_keys import load_or_create

DEBUG = env.bool("DJANGO_DEBUG", default=True)
_dev_keys = load_or_create(VAR_DIR / "dev-keys.json")
SECRET_KEY = env("DJANGO_SECRET_KEY", default=_dev_keys["secret_key"])
CLEARHOUSE_MASTER_KEYS = env("CLEARHOUSE_MASTER_KEYS", default=_dev_keys["master_keys"])
CLEARHOUSE_SIGNING_KEY = env("CLEARHOUSE_SIGNING_KEY", default=_dev_keys["signing_key"])
ALLOWED_HOSTS = ["*"]
