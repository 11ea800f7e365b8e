from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo data `make run` loads (`manage.py seed_demo`): it stands on every other app."""

    name = "demo"
    verbose_name = "Demo data"
