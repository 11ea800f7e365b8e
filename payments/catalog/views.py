"""Seller dashboard: list, create and edit products, adjust stock. Sellers see only their own."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from core.errors import ApplicationError, NotFound
from payments.amounts import minor_to_decimal
from payments.catalog.models import Product
from payments.catalog.services import (
    MAX_STOCK,
    product_adjust_stock,
    product_create,
    product_get_for_seller,
    product_update,
)


def seller_required(view: Callable) -> Callable:
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_seller:
            raise PermissionDenied("Only sellers manage products.")
        return view(request, *args, **kwargs)

    return wrapper


class ProductForm(forms.Form):
    title = forms.CharField(label="Title", max_length=200)
    description = forms.CharField(
        label="Description",
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    price = forms.CharField(
        label="Price",
        max_length=32,
        help_text="In the currency below, e.g. 12.50",
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    currency = forms.CharField(
        label="Currency", max_length=3, min_length=3, help_text="ISO 4217 code, e.g. EUR"
    )
    image = forms.FileField(
        label="Image (optional)",
        required=False,
        help_text="PNG, JPEG, GIF or WebP, at most 2 MB",
        widget=forms.ClearableFileInput(
            attrs={"accept": "image/png,image/jpeg,image/gif,image/webp"}
        ),
    )


class NewProductForm(ProductForm):
    stock = forms.IntegerField(label="Units in stock", min_value=0, max_value=MAX_STOCK, initial=0)


class EditProductForm(ProductForm):
    is_active = forms.BooleanField(label="For sale", required=False)


class StockForm(forms.Form):
    change = forms.IntegerField(
        label="Add units (negative to remove)", min_value=-MAX_STOCK, max_value=MAX_STOCK
    )


def _apply_error(form: forms.Form, error: ApplicationError) -> None:
    form.add_error(error.field if error.field in form.fields else None, error.message)


@seller_required
def product_list(request: HttpRequest) -> HttpResponse:
    products = Product.objects.filter(seller=request.user).order_by("-created_at", "-id")
    page = Paginator(products, 50).get_page(request.GET.get("page"))
    return render(request, "seller/products.html", {"page": page, "stock_form": StockForm()})


@seller_required
@require_http_methods(["GET", "POST"])
def product_new(request: HttpRequest) -> HttpResponse:
    profile = getattr(request.user, "seller_profile", None)
    if request.method == "GET":
        form = NewProductForm(initial={"currency": getattr(profile, "default_currency", "")})
        return render(request, "seller/product_form.html", {"form": form, "product": None})
    form = NewProductForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            product = product_create(
                seller=request.user,
                title=data["title"],
                description=data["description"],
                price_text=data["price"],
                currency=data["currency"],
                stock=data["stock"],
                image=data.get("image") or None,
            )
        except ApplicationError as error:
            _apply_error(form, error)
        else:
            messages.success(request, f"“{product.title}” is listed.")
            return redirect("payments:seller_products")
    return render(request, "seller/product_form.html", {"form": form, "product": None}, status=400)


@seller_required
@require_http_methods(["GET", "POST"])
def product_edit(request: HttpRequest, product_id: int) -> HttpResponse:
    try:
        product = product_get_for_seller(seller=request.user, product_id=product_id)
    except NotFound:
        raise Http404("No such product.") from None
    if request.method == "GET":
        form = EditProductForm(
            initial={
                "title": product.title,
                "description": product.description,
                "price": minor_to_decimal(product.price_minor, product.currency),
                "currency": product.currency,
                "is_active": product.is_active,
            }
        )
        return render(request, "seller/product_form.html", {"form": form, "product": product})
    form = EditProductForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            product = product_update(
                seller=request.user,
                product_id=product.pk,
                title=data["title"],
                description=data["description"],
                price_text=data["price"],
                currency=data["currency"],
                is_active=data["is_active"],
                image=data.get("image") or None,
                remove_image=data.get("image") is False,
            )
        except ApplicationError as error:
            _apply_error(form, error)
        else:
            messages.success(request, f"“{product.title}” is saved.")
            return redirect("payments:seller_products")
    return render(
        request, "seller/product_form.html", {"form": form, "product": product}, status=400
    )


@seller_required
@require_POST
def product_stock(request: HttpRequest, product_id: int) -> HttpResponse:
    try:
        product = product_get_for_seller(seller=request.user, product_id=product_id)
    except NotFound:
        raise Http404("No such product.") from None
    form = StockForm(request.POST)
    if form.is_valid():
        try:
            product = product_adjust_stock(
                seller=request.user, product_id=product.pk, change=form.cleaned_data["change"]
            )
        except ApplicationError as error:
            messages.error(request, f"{product.title}: {error.message}")
        else:
            messages.success(request, f"{product.title}: {product.stock} in stock.")
    else:
        messages.error(request, f"{product.title}: enter a whole number of units to add.")
    return redirect("payments:seller_products")
