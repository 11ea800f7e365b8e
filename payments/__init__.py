"""Payments: one Django app (one app label, its tables and migrations) in sub-packages by domain,
standing in layers (lowest first): catalog, orders, vault, providers, flows, fulfilment, checkout,
webhooks | emails, dispatch. The import contracts in pyproject.toml hold the order.

models.py, tasks.py, admin.py, urls.py and api_urls.py gather the sub-packages' modules for Django,
Celery and the URLconf; conf.py, amounts.py and task_options.py are shared by all of them.
"""
