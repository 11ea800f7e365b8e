"""The admin site requires a verified second factor (django-otp's OTPAdminSite): a staff member
signs in with password and a code from the enrolled authenticator (or a backup code). Staff
without an authenticator enrol at accounts:two_factor first. The default admin site
(accounts.admin_apps.StaffAdminConfig), so every registration stays where it is."""

from __future__ import annotations

from django_otp.admin import OTPAdminSite


class StaffAdminSite(OTPAdminSite):
    login_template = "admin/staff_login.html"

    def __init__(self, name: str = "admin") -> None:
        # OTPAdminSite names itself "otpadmin"; as the default site it keeps the "admin:" URLs.
        super().__init__(name)
