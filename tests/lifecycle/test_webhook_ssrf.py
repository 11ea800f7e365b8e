"""Webhook URLs may not reach inside the platform's network, whatever form the address takes:
IPv6 forms that carry an IPv4 address (mapped, 6to4, Teredo, NAT64, IPv4-compatible) are judged
by the IPv4 address inside them."""

from ipaddress import ip_address

import pytest

from payments.webhooks.http import UnsafeUrl, resolve_allowed, validate_webhook_url


@pytest.fixture(autouse=True)
def _private_addresses_forbidden(settings):
    settings.CLEARHOUSE_WEBHOOKS_ALLOW_PRIVATE = False


@pytest.mark.parametrize(
    "literal",
    [
        "10.0.0.1",
        "127.0.0.1",
        "169.254.169.254",  # cloud metadata
        "::1",
        "fd00::1",
        "::ffff:10.0.0.1",  # IPv4-mapped
        "2002:a00:1::1",  # 6to4 embedding 10.0.0.1 (is_global on Python 3.11)
        "2002:7f00:1::1",  # 6to4 embedding 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 embedding 169.254.169.254
        "64:ff9b::a00:1",  # NAT64 well-known prefix, 10.0.0.1
        "64:ff9b:1::a00:1",  # NAT64 local-use prefix, 10.0.0.1
        "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
        "::a00:1",  # IPv4-compatible 10.0.0.1
    ],
)
def test_an_address_that_leads_inside_is_refused(literal):
    with pytest.raises(UnsafeUrl, match="private or reserved"):
        resolve_allowed(literal, 443)
    host = f"[{literal}]" if ":" in literal else literal
    with pytest.raises(UnsafeUrl):
        validate_webhook_url(f"https://{host}/hook")


@pytest.mark.parametrize(
    "literal",
    [
        "93.184.215.14",
        "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
        "::ffff:93.184.215.14",  # mapped public
        "2002:5db8:d70e::1",  # 6to4 embedding the public 93.184.215.14
        "64:ff9b::5db8:d70e",  # NAT64 of the public 93.184.215.14
    ],
)
def test_a_public_address_is_allowed(literal):
    assert ip_address(resolve_allowed(literal, 443)) == ip_address(literal)
