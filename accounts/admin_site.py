"""The admin site requires a verified second factor (django-otp's OTPAdminSite): a staff member
signs in with password and a code from the enrolled authenticator (or a backup code). Staff
without an authenticator enrol at accounts:two_factor first. The default admin site
(accounts.admin_apps.StaffAdminConfig), so every registration stays where it is."""

from __future__ import annotations

from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice


class StaffLoginForm(OTPAdminAuthenticationForm):
    """One step: password and code together. Without a device chosen, the code's shape picks
    the one device it is checked against (six digits: the authenticator; else a backup code),
    so a wrong code never counts against the other device's throttle."""

    def _chosen_device(self, user):
        device = super()._chosen_device(user)
        if device is not None:
            return device
        token = (self.cleaned_data.get("otp_token") or "").strip()
        model = TOTPDevice if token.isdigit() and len(token) == 6 else StaticDevice
        return model.objects.filter(user=user, confirmed=True).first()


class StaffAdminSite(OTPAdminSite):
    login_form = StaffLoginForm
    login_template = "admin/staff_login.html"

    def __init__(self, name: str = "admin") -> None:
        # OTPAdminSite names itself "otpadmin"; as the default site it keeps the "admin:" URLs.
        super().__init__(name)
