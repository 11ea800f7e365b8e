"""The admin app with staff two-factor sign-in as its default site (accounts.admin_site): listed
in INSTALLED_APPS in place of django.contrib.admin. A module of its own: app configs load before
models, and the site's module imports django-otp's forms."""

from django.contrib.admin.apps import AdminConfig


class StaffAdminConfig(AdminConfig):
    default_site = "accounts.admin_site.StaffAdminSite"
