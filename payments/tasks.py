"""Celery's autodiscover_tasks() imports `<app>.tasks` only: this makes the payments app's task
modules (payment side and storefront side) known to every worker."""

from payments.acceptance_tasks import *  # noqa: F403
from payments.document_tasks import *  # noqa: F403
from payments.lifecycle_tasks import *  # noqa: F403
from payments.order_tasks import *  # noqa: F403
from payments.payment_tasks import *  # noqa: F403
from payments.release_tasks import *  # noqa: F403
from payments.webhook_tasks import *  # noqa: F403
