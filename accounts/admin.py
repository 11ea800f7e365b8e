from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

from accounts import services
from accounts.models import ApiKey, SellerKey, SellerProfile, User
from core.admin_base import ReadOnlyAdmin


class UserCreationAdminForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "role")
        field_classes = {"email": forms.EmailField}

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if services.email_is_taken(email):
            raise forms.ValidationError("A user with this email address already exists.")
        return email


class UserChangeAdminForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"
        field_classes = {"email": forms.EmailField}


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeAdminForm
    add_form = UserCreationAdminForm
    ordering = ("email",)
    list_display = ("email", "display_name", "role", "is_active", "is_staff", "date_joined")
    list_filter = ("role", "is_active", "is_staff", "is_superuser")
    search_fields = ("email", "display_name")
    readonly_fields = ("last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("display_name", "role")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "role", "usable_password", "password1", "password2"),
            },
        ),
    )


@admin.register(SellerProfile)
class SellerProfileAdmin(admin.ModelAdmin):
    """Saving runs SellerProfile.clean(): the same checks as the seller's own form and the API."""

    list_display = (
        "legal_name",
        "user",
        "country",
        "settlement_currency",
        "settlement_schedule",
        "has_payout_account",
    )
    list_filter = ("country", "settlement_currency", "settlement_schedule", "fee_plan")
    search_fields = ("legal_name", "user__email")
    raw_id_fields = ("user",)
    readonly_fields = ("created_at", "updated_at")

    @admin.display(boolean=True)
    def has_payout_account(self, obj: SellerProfile) -> bool:
        return obj.has_payout_account


@admin.action(description="Revoke the selected keys")
def revoke_seller_keys(modeladmin, request, queryset):
    for key in queryset.filter(revoked_at__isnull=True):
        services.seller_key_revoke(key=key)
    modeladmin.message_user(request, "Keys revoked.", messages.SUCCESS)


@admin.register(SellerKey)
class SellerKeyAdmin(ReadOnlyAdmin):
    """Keys are registered through the seller's pages or the API (validated) and revoked, never
    deleted (old signatures must stay verifiable): the admin only lists and revokes."""

    list_display = ("id", "seller", "purpose", "algorithm", "size_bits", "created_at", "revoked_at")
    list_filter = ("purpose", "algorithm", "origin")
    search_fields = ("id", "fingerprint", "seller__email", "label")
    actions = [revoke_seller_keys]
    readonly_fields = (
        "id",
        "seller",
        "purpose",
        "algorithm",
        "size_bits",
        "public_pem",
        "fingerprint",
        "label",
        "origin",
        "created_at",
        "revoked_at",
    )


@admin.action(description="Revoke the selected API keys")
def revoke_api_keys(modeladmin, request, queryset):
    for api_key in queryset.filter(revoked_at__isnull=True):
        services.api_key_revoke(api_key=api_key)
    modeladmin.message_user(request, "API keys revoked.", messages.SUCCESS)


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdmin):
    """The owner creates keys (and sees the secret once); the admin only lists and revokes."""

    list_display = ("prefix", "name", "owner", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("prefix", "name", "owner__email")
    actions = [revoke_api_keys]
    # The hash is never shown; the whole key was shown to its owner once.
    fields = ("id", "prefix", "name", "owner", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
