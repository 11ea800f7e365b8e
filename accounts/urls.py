from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from accounts import two_factor_views, views
from accounts.forms import DashboardKeyPasswordChangeForm, DashboardKeySetPasswordForm, LoginForm

app_name = "accounts"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("signup/", views.sign_up, name="signup"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            authentication_form=LoginForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Password reset: Django's views, our templates, namespaced URLs.
    path(
        "password-reset/",
        auth_views.PasswordResetView.as_view(
            email_template_name="registration/password_reset_email.txt",
            subject_template_name="registration/password_reset_subject.txt",
            success_url=reverse_lazy("accounts:password_reset_done"),
        ),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            form_class=DashboardKeySetPasswordForm,
            success_url=reverse_lazy("accounts:password_reset_complete"),
        ),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path(
        "password-change/",
        auth_views.PasswordChangeView.as_view(
            form_class=DashboardKeyPasswordChangeForm,
            success_url=reverse_lazy("accounts:password_change_done"),
        ),
        name="password_change",
    ),
    path(
        "password-change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    # Staff: enrol the authenticator the admin requires.
    path("two-factor/", two_factor_views.two_factor_setup, name="two_factor"),
    # Sellers
    path("profile/", views.seller_profile, name="seller_profile"),
    path("keys/", views.seller_keys, name="seller_keys"),
    path("keys/generate/", views.seller_key_generate, name="seller_key_generate"),
    path("keys/upload/", views.seller_key_upload, name="seller_key_upload"),
    path("keys/<uuid:key_id>/revoke/", views.seller_key_revoke, name="seller_key_revoke"),
    # Everyone
    path("api-keys/", views.api_keys, name="api_keys"),
    path("api-keys/create/", views.api_key_create, name="api_key_create"),
    path("api-keys/<uuid:key_id>/revoke/", views.api_key_revoke, name="api_key_revoke"),
]
