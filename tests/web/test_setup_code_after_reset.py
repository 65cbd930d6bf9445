"""After an administrator resets a member's second factor, a new authenticator is set up with
the password AND a one-time setup code the administrator handed over (ASVS 6.4.4; issue 19: a
password alone enrolled a new app, so whoever knew it could take the account after a reset)."""

from __future__ import annotations

import re
from base64 import b32decode
from typing import Any

from django.conf import settings
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from signing_in import authenticator, password_step, sign_in
from web_practice import Practice

from ally.web.accounts.lockout import is_locked_anywhere

SETUP = "/accounts/two-factor/setup/"


def _reset(practice: Practice) -> str:
    """The administrator resets the clinician's factor; the setup code they are shown."""
    admin = Client()
    sign_in(admin, practice.admin.user)
    page = admin.post(
        f"/o/north/members/{practice.clinician.pk}/reset-two-factor/", follow=True
    ).content.decode()
    found = re.search(r"this setup code: ([a-z2-7]{5}-[a-z2-7]{5})", page)
    assert found, page
    return found.group(1)


def _code_on(page: Any) -> str:
    text = page.content.decode().split('id="totp-secret">', 1)[1].split("<", 1)[0]
    secret = "".join(text.split())
    return f"{totp(b32decode(secret + '=' * (-len(secret) % 8))):06d}"


def test_the_setup_code_is_shown_to_the_administrator_once_and_kept_only_hashed(
    practice: Practice,
) -> None:
    authenticator(practice.clinician.user)
    code = _reset(practice)
    practice.clinician.user.refresh_from_db()
    stored = practice.clinician.user.setup_code
    assert stored
    assert code.replace("-", "") not in stored


def test_a_password_alone_no_longer_sets_up_an_app_after_a_reset(practice: Practice) -> None:
    user = practice.clinician.user
    authenticator(user)
    _reset(practice)
    browser = Client()
    password_step(browser, user.email)
    page = browser.get(SETUP)
    assert "Setup code from your administrator" in page.content.decode()
    answer = browser.post(SETUP, {"code": _code_on(page)})
    assert answer.status_code == 200
    answer = browser.post(SETUP, {"code": _code_on(page), "setup_code": "aaaaa-aaaaa"})
    assert "This setup code is not right" in answer.content.decode()
    assert not TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    assert browser.get("/o/north/").status_code == 302


def test_with_the_setup_code_the_member_sets_up_a_new_app_once(practice: Practice) -> None:
    user = practice.clinician.user
    authenticator(user)
    code = _reset(practice)
    browser = Client()
    password_step(browser, user.email)
    page = browser.get(SETUP)
    done = browser.post(SETUP, {"code": _code_on(page), "setup_code": code.upper()})
    assert done["Location"] == "/accounts/recovery-codes/"
    assert browser.get("/o/north/").status_code == 200
    user.refresh_from_db()
    assert user.setup_code == "", "used once"


def test_wrong_setup_codes_count_towards_the_lockout(practice: Practice) -> None:
    user = practice.clinician.user
    authenticator(user)
    _reset(practice)
    browser = Client()
    password_step(browser, user.email)
    page = browser.get(SETUP)
    for n in range(settings.AXES_FAILURE_LIMIT):
        answer = browser.post(SETUP, {"code": _code_on(page), "setup_code": f"wrong-code{n}"})
    assert answer.status_code == 403
    assert is_locked_anywhere(user.email)


def test_a_new_account_still_sets_up_its_first_app_with_the_password(practice: Practice) -> None:
    """No reset, no setup code: the operator who made the account handed over the password."""
    browser = Client()
    password_step(browser, practice.clinician.user.email)
    page = browser.get(SETUP)
    assert "Setup code" not in page.content.decode()
    assert browser.post(SETUP, {"code": _code_on(page)})["Location"] == "/accounts/recovery-codes/"
