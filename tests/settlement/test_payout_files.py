"""Staff download the selected payouts as a pain.001.001.09 file that the official schema accepts
and whose lines name each payout by its bank id."""

import pytest
from django.test import override_settings
from django.urls import reverse
from lxml import etree

from settlement.models import Payout
from settlement.payouts import services
from tests.accounts.factories import SellerFactory
from tests.settlement.fake_bank import FakeBank
from tests.settlement.test_batches import PLANS
from tests.settlement.test_payouts import a_payout

pytestmark = pytest.mark.django_db
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"}


@override_settings(CLEARHOUSE_FEE_PLANS=PLANS)
def test_staff_download_a_schema_valid_pain001_of_the_selected_payouts(admin_client):
    euro = a_payout(SellerFactory(), 12_345)
    yen = a_payout(SellerFactory(profile__settlement_currency="JPY"), 5_000, currency="JPY")
    services.submit(euro.pk, FakeBank())
    response = admin_client.post(
        reverse("admin:settlement_payout_changelist"),
        {"action": "download_pain001", "_selected_action": [str(euro.pk), str(yen.pk)]},
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    assert "attachment" in response["Content-Disposition"]
    document = etree.fromstring(response.content)
    lines = {
        tx.findtext("p:PmtId/p:EndToEndId", namespaces=NS): tx.find("p:Amt/p:InstdAmt", NS)
        for tx in document.iterfind(".//p:CdtTrfTxInf", NS)
    }
    assert set(lines) == {euro.bank_id, yen.bank_id}
    assert (lines[euro.bank_id].text, lines[euro.bank_id].get("Ccy")) == ("123.45", "EUR")
    assert (lines[yen.bank_id].text, lines[yen.bank_id].get("Ccy")) == ("5000", "JPY")
    # Nothing about the payouts changed by downloading.
    assert Payout.objects.get(pk=yen.pk).status == "created"
