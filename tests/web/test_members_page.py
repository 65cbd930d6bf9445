"""The members page: each member's sign-in security, for the practice's administrators only."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from signing_in import authenticator, code_of, code_step, password_step, sign_in
from web_practice import Practice

from ally.web.accounts.models import RecoveryCodes
from ally.web.accounts.two_factor import new_recovery_codes
from ally.web.auditlog.models import AuditEntry

PAGE = "/o/north/members/"


def _admin(practice: Practice) -> Client:
    browser = Client()
    sign_in(browser, practice.admin.user)
    return browser


def _rows(page: Any) -> dict[str, Any]:
    return {row.membership.user.email: row for row in page.context["members"]}


def test_the_page_lists_this_practices_members_and_their_sign_in(practice: Practice) -> None:
    authenticator(practice.clinician.user)
    for n in range(2):
        password_step(Client(), practice.colleague.user.email, password=f"guess {n}")
    for n in range(5):
        password_step(Client(), practice.researcher.user.email, password=f"guess {n}")
    page = _admin(practice).get(PAGE)
    assert page.status_code == 200
    rows = _rows(page)
    assert set(rows) == {
        m.user.email
        for m in (
            practice.admin,
            practice.supervisor,
            practice.researcher,
            practice.clinician,
            practice.colleague,
        )
    }
    assert rows[practice.clinician.user.email].two_factor
    assert not rows[practice.colleague.user.email].two_factor
    colleague = rows[practice.colleague.user.email]
    assert (colleague.failures, colleague.locked) == (2, False)
    assert rows[practice.researcher.user.email].locked
    # Members who never signed in say so.
    html = page.content.decode()
    assert "Locked" in html
    assert "never" in html
    assert practice.outsider.user.email not in html


def test_the_page_title_is_its_name_and_the_practice_form_shows_once(practice: Practice) -> None:
    html = _admin(practice).get(PAGE).content.decode()
    assert "<title>Members · Ally</title>" in html
    assert html.count('id="practice-title"') == 1


def test_the_last_sign_in_is_shown(practice: Practice) -> None:
    user = practice.clinician.user
    device = authenticator(user)
    browser = Client()
    password_step(browser, user.email)
    code_step(browser, code_of(device))
    user.refresh_from_db()
    page = _admin(practice).get(PAGE)
    assert _rows(page)[user.email].membership.user.last_login == user.last_login
    shown = timezone.localtime(user.last_login).strftime("%Y-%m-%d %H:%M")
    assert shown in page.content.decode()


@pytest.mark.parametrize("role", ["supervisor", "researcher", "clinician"])
def test_only_administrators_open_the_page(practice: Practice, role: str) -> None:
    browser = Client()
    sign_in(browser, getattr(practice, role).user)
    assert browser.get(PAGE).status_code == 403


def test_another_practices_member_gets_a_404_and_a_visitor_the_sign_in(
    practice: Practice,
) -> None:
    browser = Client()
    sign_in(browser, practice.outsider.user)
    assert browser.get(PAGE).status_code == 404
    assert Client().get(PAGE)["Location"].startswith("/accounts/login/")


def test_resetting_a_second_factor_signs_the_member_out_and_they_set_up_again(
    practice: Practice,
) -> None:
    user = practice.clinician.user
    authenticator(user)
    new_recovery_codes(user)
    member = Client()
    sign_in(member, user)
    answer = _admin(practice).post(f"{PAGE}{practice.clinician.pk}/reset-two-factor/")
    assert answer["Location"] == PAGE
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not RecoveryCodes.objects.filter(user=user).exists()
    # Their session ends at their next request; the page says why.
    signed_out = member.get("/o/north/")
    assert signed_out["Location"].startswith("/accounts/login/")
    assert "second factor was reset" in member.get(signed_out["Location"]).content.decode()
    # At their next sign-in they set up an app again.
    browser = Client()
    password_step(browser, user.email)
    assert browser.get("/accounts/two-factor/")["Location"] == "/accounts/two-factor/setup/"
    entry = AuditEntry.objects.get(action="two_factor.reset")
    assert (entry.actor_id, entry.target_id) == (practice.admin.pk, str(practice.clinician.pk))


def test_an_administrator_replaces_their_own_factor_on_their_account_page(
    practice: Practice,
) -> None:
    device = authenticator(practice.admin.user)
    browser = _admin(practice)
    answer = browser.post(f"{PAGE}{practice.admin.pk}/reset-two-factor/", follow=True)
    assert "on your account page" in answer.content.decode()
    assert TOTPDevice.objects.filter(pk=device.pk).exists()


def test_an_administrator_signs_a_member_out_on_every_device(practice: Practice) -> None:
    user = practice.clinician.user
    phone, desk = Client(), Client()
    sign_in(phone, user)
    sign_in(desk, user)
    admin = _admin(practice)
    assert admin.post(f"{PAGE}{practice.clinician.pk}/sign-out/")["Location"] == PAGE
    for device in (phone, desk):
        assert device.get("/o/north/")["Location"].startswith("/accounts/login/")
    assert admin.get(PAGE).status_code == 200, "the administrator stays signed in"
    entry = AuditEntry.objects.get(action="session.ended_by_admin")
    assert (entry.actor_id, entry.target_id) == (practice.admin.pk, str(practice.clinician.pk))


@pytest.mark.parametrize("action", ["unlock", "reset-two-factor", "sign-out"])
def test_another_practices_members_are_not_found(practice: Practice, action: str) -> None:
    device = authenticator(practice.outsider.user)
    answer = _admin(practice).post(f"{PAGE}{practice.outsider.pk}/{action}/")
    assert answer.status_code == 404
    assert TOTPDevice.objects.filter(pk=device.pk).exists()
    assert not AuditEntry.objects.filter(
        action__in=["two_factor.reset", "account.unlocked", "session.ended_by_admin"]
    )


@pytest.mark.parametrize("action", ["unlock", "reset-two-factor", "sign-out"])
def test_the_actions_take_only_post(practice: Practice, action: str) -> None:
    assert _admin(practice).get(f"{PAGE}{practice.clinician.pk}/{action}/").status_code == 405
