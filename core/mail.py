"""The development email backend: each message written whole to EMAIL_FILE_PATH (var/mail/, one
file per connection, as Django's file backend does) and told in one INFO log line.

Django's console backend prints every line of every message; in a Celery worker those lines go
through stdout redirection and each becomes a WARNING. Production sends by SMTP
(config/settings/production.py).
"""

from __future__ import annotations

import logging

from django.core.mail.backends.filebased import EmailBackend

logger = logging.getLogger("clearhouse.email")


class FileAndLogEmailBackend(EmailBackend):
    def write_message(self, message) -> None:
        super().write_message(message)
        logger.info(
            "email to %s: %s (kept in %s)",
            ", ".join(message.recipients()),
            message.subject,
            self._fname,
        )
