from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

from accounts import services
from accounts.models import (
    ApiKey,
    DemoKeyMaterial,
    PlatformHeldKeyMaterial,
    SellerKey,
    SellerProfile,
    User,
)
from core.admin_base import ReadOnlyAdmin, change_link, mask_iban


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


class SellerProfileAdminForm(forms.ModelForm):
    """The account numbers on file are never shown in full, not even to staff: each field starts
    empty with the masked number on file beside it. A number typed replaces it, an empty field
    keeps it, and "remove" clears it; SellerProfile.clean() checks the result."""

    NUMBERS = ("iban", "account_number")
    remove_iban = forms.BooleanField(required=False, label="Remove the IBAN on file")
    remove_account_number = forms.BooleanField(
        required=False, label="Remove the account number on file"
    )

    class Meta:
        model = SellerProfile
        fields = (
            "user",
            "legal_name",
            "country",
            "default_currency",
            "settlement_currency",
            "bank_account_holder",
            "iban",
            "bic",
            "account_number",
            "routing_number",
            "settlement_schedule",
            "payout_weekday",
            "payout_monthday",
            "minimum_payout_minor",
            "paid_in_sale_currency",
            "fee_plan",
        )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in self.NUMBERS:
            on_file = getattr(self.instance, name, "")
            self.initial[name] = ""
            self.fields[name].help_text = (
                f"On file: {mask_iban(on_file)}. Type a new one to replace it; leave this empty "
                "to keep it."
                if on_file
                else "None on file."
            )

    def clean(self) -> dict:
        data = super().clean()
        for name in self.NUMBERS:
            if data.get(f"remove_{name}"):
                data[name] = ""
            elif not data.get(name):
                data[name] = getattr(self.instance, name, "")
        return data


@admin.register(SellerProfile)
class SellerProfileAdmin(admin.ModelAdmin):
    """Saving runs SellerProfile.clean(): the same checks as the seller's own form and the API."""

    form = SellerProfileAdminForm

    list_display = (
        "legal_name",
        "user",
        "country",
        "settlement_currency",
        "settlement_schedule",
        "has_payout_account",
        "payout_account",
    )
    list_filter = ("country", "settlement_currency", "settlement_schedule", "fee_plan")
    search_fields = ("legal_name", "user__email")
    raw_id_fields = ("user",)
    readonly_fields = ("created_at", "updated_at")
    list_select_related = ("user",)
    ordering = ("legal_name", "id")

    @admin.display(boolean=True)
    def has_payout_account(self, obj: SellerProfile) -> bool:
        return obj.has_payout_account

    @admin.display(description="payout account")
    def payout_account(self, obj: SellerProfile) -> str:
        """Masked: the IBAN's country, check digits and last four (or the US account number's
        last four), in the list and on the profile's page alike."""
        return mask_iban(obj.iban or obj.account_number)


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
    list_select_related = ("seller",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
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
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    actions = [revoke_api_keys]
    # The hash is never shown; the whole key was shown to its owner once.
    fields = ("id", "prefix", "name", "owner", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields


class KeyMaterialAdmin(ReadOnlyAdmin):
    """Which seller keys have a private half stored, and since when: never the material itself
    (no encrypted key, wrapped key, salt or master key id is shown, not even as bytes)."""

    list_display = ("seller_key_id", "seller", "purpose", "created_at")
    list_filter = ("seller_key__purpose",)
    search_fields = ("=seller_key__id", "seller_key__seller__email")
    list_select_related = ("seller_key__seller",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    fields = ("key", "seller", "purpose", "created_at")
    readonly_fields = fields

    @admin.display(description="seller")
    def seller(self, obj) -> str:
        return obj.seller_key.seller.email

    @admin.display(description="purpose", ordering="seller_key__purpose")
    def purpose(self, obj) -> str:
        return obj.seller_key.get_purpose_display()

    @admin.display(description="seller key")
    def key(self, obj) -> str:
        return change_link(obj.seller_key, str(obj.seller_key_id))


@admin.register(DemoKeyMaterial)
class DemoKeyMaterialAdmin(KeyMaterialAdmin):
    pass


@admin.register(PlatformHeldKeyMaterial)
class PlatformHeldKeyMaterialAdmin(KeyMaterialAdmin):
    pass
