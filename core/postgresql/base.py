"""Django's PostgreSQL backend, with a start-up error that says what to change.

Django refuses a server older than it supports with NotSupportedError; Clearhouse's own floor
(settings.MIN_POSTGRES_VERSION) is checked here too, and both name DATABASE_URL, the one place
the database is chosen.
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.postgresql.base import DatabaseWrapper as PostgreSQLDatabaseWrapper


class DatabaseWrapper(PostgreSQLDatabaseWrapper):
    def check_database_version_supported(self) -> None:
        minimum = max(settings.MIN_POSTGRES_VERSION, self.features.minimum_database_version[0])
        found = self.get_database_version()
        if found[0] < minimum:
            raise ImproperlyConfigured(
                f"DATABASE_URL names PostgreSQL {'.'.join(map(str, found))}; Clearhouse needs "
                f"PostgreSQL {minimum} or later. Point DATABASE_URL at a newer server, or unset it "
                "to use the embedded PostgreSQL that `make run` and `make test` start."
            )
