"""Every model in the admin opens for staff (list and search), and the read-only ones refuse adds."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from core.admin_base import ReadOnlyAdmin

pytestmark = pytest.mark.django_db

REGISTERED = sorted(
    (model._meta.app_label, model._meta.model_name, type(model_admin))
    for model, model_admin in admin.site._registry.items()
)


@pytest.mark.parametrize(
    ("app_label", "model_name", "admin_class"),
    REGISTERED,
    ids=[f"{app}.{model}" for app, model, _ in REGISTERED],
)
def test_the_changelist_opens_and_read_only_pages_refuse_adds(
    admin_client, app_label, model_name, admin_class
):
    changelist = reverse(f"admin:{app_label}_{model_name}_changelist")
    assert admin_client.get(changelist).status_code == 200
    assert admin_client.get(changelist, {"q": "x"}).status_code == 200
    if issubclass(admin_class, ReadOnlyAdmin):
        assert admin_client.get(reverse(f"admin:{app_label}_{model_name}_add")).status_code == 403
