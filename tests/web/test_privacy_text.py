"""The privacy pages take text by the rule every other form of Ally follows: a refusal's reason
and the erasure policy refuse direction-changing, invisible and control characters, saying which
and where, and store what passes in NFC (issue 19, finding 8d)."""

from __future__ import annotations

import pytest
from django.test import Client as Browser
from django.urls import reverse
from web_practice import Practice, sign_in

from ally.web.practice.models import Organisation
from ally.web.privacy.models import ErasureRefusal

REFUSED = [
    pytest.param("Kept until 2027\u202e.7202 litnu ", "changes the direction", id="right-to-left"),
    pytest.param("Kept until\u200b 2027", "invisible character (U+200B)", id="zero-width-space"),
    pytest.param("Kept until\x00 2027", "control character (U+0000)", id="NUL"),
    pytest.param("Kept until \u2066 2027", "changes the direction", id="isolate"),
]


def admin_browser(practice: Practice) -> Browser:
    browser = Browser()
    sign_in(browser, practice.admin.user)
    return browser


@pytest.mark.parametrize(("text", "says"), REFUSED)
def test_a_refusals_reason_with_a_hidden_or_direction_character_is_refused(
    practice: Practice, text: str, says: str
) -> None:
    url = reverse("privacy:refuse", kwargs={"org": "north", "pk": practice.own.client.pk})
    reply = admin_browser(practice).post(url, {"exemption": "legal_claims", "reason": text})
    assert reply.status_code == 400
    assert says in reply.content.decode()
    assert not ErasureRefusal.objects.exists()


@pytest.mark.parametrize(("text", "says"), REFUSED)
def test_an_erasure_policy_with_a_hidden_or_direction_character_is_refused(
    practice: Practice, text: str, says: str
) -> None:
    url = reverse("privacy:policy", kwargs={"org": "north"})
    reply = admin_browser(practice).post(url, {"policy": text})
    assert reply.status_code == 400
    assert says in reply.content.decode()
    assert Organisation.objects.get(pk=practice.org.pk).erasure_policy == ""


def test_both_keep_line_breaks_and_are_stored_in_nfc(practice: Practice) -> None:
    browser = admin_browser(practice)
    policy = "Records are kept 10 years.\r\nAsk Re\u0301my."
    reply = browser.post(reverse("privacy:policy", kwargs={"org": "north"}), {"policy": policy})
    assert reply.status_code == 302
    stored = Organisation.objects.get(pk=practice.org.pk).erasure_policy
    assert stored == "Records are kept 10 years.\nAsk R\u00e9my."
    url = reverse("privacy:refuse", kwargs={"org": "north", "pk": practice.own.client.pk})
    reason = "A complaint is open.\nRe\u0301my decides."
    assert browser.post(url, {"exemption": "legal_claims", "reason": reason}).status_code == 302
    assert ErasureRefusal.objects.get().reason == "A complaint is open.\nR\u00e9my decides."
