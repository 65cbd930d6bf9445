"""Two-factor sign-in: a password, then a code from an authenticator app or a recovery code.

No staff page or API call before the code; a member without an app sets one up at the code step
and gets ten single-use recovery codes; changes to the sign-in need the password and a code
again (ASVS 6.3.3, 6.5, 7.5.1).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.sessions.models import Session as StoredSession
from django.core import mail
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice
from signing_in import PASSWORD, authenticator, code_of, code_step, password_step, sign_in
from web_practice import Practice

from ally.web.accounts.models import RecoveryCode, User
from ally.web.accounts.two_factor import new_recovery_codes
from ally.web.accounts.views import CONFIRMED_AT
from ally.web.auditlog.models import AuditEntry

STAFF_PAGE = "/o/north/"
API = "/api/o/north/episodes"


def _actions(membership: Any) -> list[str]:
    return list(
        AuditEntry.objects.filter(
            target_type="practice.Membership", target_id=str(membership.pk)
        ).values_list("action", flat=True)
    )


def _secret_of(page: Any) -> bytes:
    """The key the setup page shows for typing, as the app reads it."""
    from base64 import b32decode

    text = page.content.decode().split('id="totp-secret">', 1)[1].split("<", 1)[0]
    secret = "".join(text.split())
    return b32decode(secret + "=" * (-len(secret) % 8))


def _code_for_secret(secret: bytes) -> str:
    from django_otp.oath import totp

    return f"{totp(secret):06d}"


# Until the code -------------------------------------------------------------------------------


def test_after_the_password_every_staff_page_waits_for_the_code(practice: Practice) -> None:
    authenticator(practice.clinician.user)
    browser = Client()
    answer = password_step(browser, practice.clinician.user.email)
    assert answer.status_code == 302
    assert answer["Location"] == "/accounts/two-factor/"
    for path in (STAFF_PAGE, "/", "/accounts/security/", f"/o/north/episodes/{practice.own.pk}/"):
        page = browser.get(path)
        assert page.status_code == 302, path
        assert page["Location"] == "/accounts/two-factor/", path
    # The sign-in steps, the language switch and the client's side stay open.
    assert browser.get("/accounts/two-factor/").status_code == 200
    assert browser.get("/a/").status_code != 302


def test_after_the_password_the_api_answers_401_in_its_one_error_shape(
    practice: Practice,
) -> None:
    authenticator(practice.clinician.user)
    browser = Client()
    password_step(browser, practice.clinician.user.email)
    answer = browser.get(API)
    assert answer.status_code == 401
    body = answer.json()
    assert set(body) == {"detail", "errors"}
    assert "code" in body["detail"]
    assert "no-store" in answer["Cache-Control"]


def test_a_session_signed_in_without_a_verified_factor_is_signed_out(practice: Practice) -> None:
    browser = Client()
    browser.force_login(practice.clinician.user)  # a session no sign-in page made
    page = browser.get(STAFF_PAGE)
    assert page.status_code == 302
    assert page["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in browser.session
    assert browser.get(API).status_code == 401


def test_with_the_right_code_the_member_is_in(practice: Practice) -> None:
    device = authenticator(practice.clinician.user)
    browser = Client()
    password_step(browser, practice.clinician.user.email, next=STAFF_PAGE + "caseload/")
    answer = code_step(browser, code_of(device))
    assert answer.status_code == 302
    assert answer["Location"] == STAFF_PAGE + "caseload/"
    assert browser.get(STAFF_PAGE + "caseload/").status_code == 200
    assert browser.get(API).status_code == 200
    assert "login.succeeded" in _actions(practice.clinician)
    practice.clinician.user.refresh_from_db()
    assert practice.clinician.user.last_login is not None


def test_a_wrong_code_is_refused_and_the_member_stays_outside(practice: Practice) -> None:
    device = authenticator(practice.clinician.user)
    right = code_of(device)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    browser = Client()
    password_step(browser, practice.clinician.user.email)
    answer = code_step(browser, wrong)
    assert answer.status_code == 200
    assert "This code is not right" in answer.content.decode()
    assert browser.get(STAFF_PAGE)["Location"] == "/accounts/two-factor/"
    assert "login.failed" in _actions(practice.clinician)
    assert "login.succeeded" not in _actions(practice.clinician)


def test_a_code_is_taken_only_once(practice: Practice) -> None:
    device = authenticator(practice.clinician.user)
    code = code_of(device)
    first = Client()
    password_step(first, practice.clinician.user.email)
    assert code_step(first, code).status_code == 302
    second = Client()
    password_step(second, practice.clinician.user.email)
    assert code_step(second, code).status_code == 200
    assert second.get(STAFF_PAGE).status_code == 302


def test_the_session_key_changes_at_each_sign_in_step(practice: Practice) -> None:
    device = authenticator(practice.clinician.user)
    browser = Client()
    planted = browser.session  # a session the visitor had (or was given) before signing in
    planted["language_hint"] = "en"
    planted.save()
    browser.cookies[settings.SESSION_COOKIE_NAME] = planted.session_key
    password_step(browser, practice.clinician.user.email)
    after_password = browser.cookies[settings.SESSION_COOKIE_NAME].value
    code_step(browser, code_of(device))
    after_code = browser.cookies[settings.SESSION_COOKIE_NAME].value
    assert len({planted.session_key, after_password, after_code}) == 3
    # The old keys are gone: whoever holds them holds nothing.
    assert not StoredSession.objects.filter(
        session_key__in=[planted.session_key, after_password]
    ).exists()
    assert browser.get(STAFF_PAGE).status_code == 200


def test_the_password_step_alone_does_not_sign_in(practice: Practice) -> None:
    authenticator(practice.clinician.user)
    browser = Client()
    password_step(browser, practice.clinician.user.email)
    assert "_auth_user_id" not in browser.session
    practice.clinician.user.refresh_from_db()
    assert practice.clinician.user.last_login is None


# Setting up an authenticator --------------------------------------------------------------------


def test_a_member_without_an_app_sets_one_up_and_gets_ten_recovery_codes(
    practice: Practice,
) -> None:
    user = practice.clinician.user
    browser = Client()
    password_step(browser, user.email)
    assert browser.get("/accounts/two-factor/")["Location"] == "/accounts/two-factor/setup/"
    page = browser.get("/accounts/two-factor/setup/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html
    assert "QR code" in html
    secret = _secret_of(page)
    # Not signed in before the app proves it works.
    assert browser.get(STAFF_PAGE).status_code == 302
    done = browser.post("/accounts/two-factor/setup/", {"code": _code_for_secret(secret)})
    assert done["Location"] == "/accounts/recovery-codes/"
    shown = browser.get("/accounts/recovery-codes/")
    codes = shown.context["codes"]
    assert len(set(codes)) == len(codes) == 10
    assert all(code in shown.content.decode() for code in codes)
    # Shown once only.
    assert browser.get("/accounts/recovery-codes/").context["codes"] is None
    assert TOTPDevice.objects.get(user=user).confirmed
    assert browser.get(STAFF_PAGE).status_code == 200
    assert {"two_factor.enrolled", "login.succeeded"} <= set(_actions(practice.clinician))


def test_the_setup_secret_belongs_to_one_session(practice: Practice) -> None:
    user = practice.clinician.user
    mine, theirs = Client(), Client()
    password_step(mine, user.email)
    password_step(theirs, user.email)
    assert _secret_of(mine.get("/accounts/two-factor/setup/")) != _secret_of(
        theirs.get("/accounts/two-factor/setup/")
    )


def test_a_wrong_first_code_does_not_set_up_the_app(practice: Practice) -> None:
    user = practice.clinician.user
    browser = Client()
    password_step(browser, user.email)
    page = browser.get("/accounts/two-factor/setup/")
    right = _code_for_secret(_secret_of(page))
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    answer = browser.post("/accounts/two-factor/setup/", {"code": wrong})
    assert answer.status_code == 200
    assert not TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    assert browser.get(STAFF_PAGE).status_code == 302


def test_a_password_alone_never_sets_up_a_second_app(practice: Practice) -> None:
    user = practice.clinician.user
    authenticator(user)
    browser = Client()
    password_step(browser, user.email)
    answer = browser.get("/accounts/two-factor/setup/")
    assert answer["Location"] == "/accounts/two-factor/"
    assert TOTPDevice.objects.filter(user=user).count() == 1


# Recovery codes ---------------------------------------------------------------------------------


def test_a_recovery_code_signs_in_once(practice: Practice) -> None:
    user = practice.clinician.user
    authenticator(user)
    codes = new_recovery_codes(user)
    first = Client()
    password_step(first, user.email)
    assert code_step(first, codes[0].upper().replace("-", " ")).status_code == 302
    assert first.get(STAFF_PAGE).status_code == 200
    second = Client()
    password_step(second, user.email)
    answer = code_step(second, codes[0])
    assert answer.status_code == 200
    assert second.get(STAFF_PAGE).status_code == 302
    assert RecoveryCode.objects.filter(device__user=user).count() == 9


# Changes need the password and a code again (ASVS 7.5.1) -------------------------------------


def _confirm(browser: Client, user: User, steps_ahead: int = 0, password: str = PASSWORD) -> Any:
    code = code_of(authenticator(user), steps_ahead)
    return browser.post("/accounts/security/confirm/", {"password": password, "code": code})


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/security/email/",
        "/accounts/security/password/",
        "/accounts/security/authenticator/",
        "/accounts/security/recovery-codes/",
    ],
)
def test_each_change_to_the_sign_in_first_asks_for_password_and_code(
    practice: Practice, path: str
) -> None:
    browser = Client()
    sign_in(browser, practice.clinician.user)
    for method in ("get", "post"):
        answer = getattr(browser, method)(path)
        assert answer.status_code == 302, method
        assert answer["Location"].startswith("/accounts/security/confirm/?next=")
    # After a confirmation a few minutes ago, the page opens.
    session = browser.session
    session[CONFIRMED_AT] = time.time() - 60
    session.save()
    assert browser.get(path).status_code == 200
    # Not after more than ALLY_REAUTH_MINUTES.
    session[CONFIRMED_AT] = time.time() - settings.ALLY_REAUTH_MINUTES * 60 - 1
    session.save()
    assert browser.get(path).status_code == 302


def test_a_wrong_password_or_code_does_not_confirm(practice: Practice) -> None:
    user = practice.clinician.user
    browser = Client()
    sign_in(browser, user)
    assert _confirm(browser, user, password="not it").status_code == 200
    wrong = f"{(int(code_of(authenticator(user))) + 1) % 1_000_000:06d}"
    answer = browser.post("/accounts/security/confirm/", {"password": PASSWORD, "code": wrong})
    assert answer.status_code == 200
    assert CONFIRMED_AT not in browser.session
    assert AccessAttempt.objects.get(username=user.email).failures_since_start == 2


def test_changing_the_email_after_confirming(
    practice: Practice, django_capture_on_commit_callbacks: Any
) -> None:
    user = practice.clinician.user
    browser = Client()
    sign_in(browser, user)
    confirmed = _confirm(browser, user)
    assert confirmed["Location"] == "/accounts/security/"
    taken = browser.post("/accounts/security/email/", {"email": practice.admin.user.email})
    assert taken.status_code == 200
    assert "Another account" in taken.content.decode()
    old = user.email
    with django_capture_on_commit_callbacks(execute=True):
        answer = browser.post("/accounts/security/email/", {"email": "robin@new.example"})
    assert answer["Location"] == "/accounts/security/"
    user.refresh_from_db()
    assert user.email == "robin@new.example"
    assert "account.email_changed" in _actions(practice.clinician)
    assert [message.to for message in mail.outbox] == [[old]]


def test_changing_the_password_ends_the_other_sessions(practice: Practice) -> None:
    user = practice.clinician.user
    here, elsewhere = Client(), Client()
    sign_in(here, user)
    sign_in(elsewhere, user)
    _confirm(here, user)
    new = "a much longer passphrase"
    answer = here.post("/accounts/security/password/", {"new_password1": new, "new_password2": new})
    assert answer["Location"] == "/accounts/security/"
    user.refresh_from_db()
    assert user.check_password(new)
    assert here.get(STAFF_PAGE).status_code == 200
    assert elsewhere.get(STAFF_PAGE).status_code == 302
    assert "account.password_changed" in _actions(practice.clinician)


def test_replacing_the_app_keeps_this_session_and_ends_the_others(practice: Practice) -> None:
    user = practice.clinician.user
    old = authenticator(user)
    here, elsewhere = Client(), Client()
    sign_in(here, user)
    sign_in(elsewhere, user)
    _confirm(here, user)
    page = here.get("/accounts/security/authenticator/")
    assert page.status_code == 200
    answer = here.post(
        "/accounts/security/authenticator/", {"code": _code_for_secret(_secret_of(page))}
    )
    assert answer["Location"] == "/accounts/recovery-codes/"
    assert len(here.get("/accounts/recovery-codes/").context["codes"]) == 10
    assert not TOTPDevice.objects.filter(pk=old.pk).exists()
    assert TOTPDevice.objects.get(user=user).confirmed
    assert here.get(STAFF_PAGE).status_code == 200
    assert elsewhere.get(STAFF_PAGE).status_code == 302
    assert "two_factor.replaced" in _actions(practice.clinician)


def test_new_recovery_codes_replace_the_old_ones(practice: Practice) -> None:
    user = practice.clinician.user
    old = new_recovery_codes(user)
    browser = Client()
    sign_in(browser, user)
    _confirm(browser, user)
    browser.post("/accounts/security/recovery-codes/")
    new = browser.get("/accounts/recovery-codes/").context["codes"]
    assert len(new) == 10
    assert not set(new) & set(old)
    outside = Client()
    password_step(outside, user.email)
    assert code_step(outside, old[0]).status_code == 200
    assert code_step(outside, new[0]).status_code == 302
    assert "two_factor.recovery_codes_renewed" in _actions(practice.clinician)


def test_no_password_or_code_is_kept_by_the_lockout_records(practice: Practice) -> None:
    user = practice.clinician.user
    device = authenticator(user)
    wrong = f"{(int(code_of(device)) + 1) % 1_000_000:06d}"
    browser = Client()
    password_step(browser, user.email, password="secret-guess")
    password_step(browser, user.email)
    code_step(browser, wrong)
    stored = " ".join(AccessAttempt.objects.values_list("post_data", flat=True))
    assert "secret-guess" not in stored
    assert wrong not in stored
    assert "code=" in stored, "the field is there, masked"
    entries = " ".join(
        " ".join(map(str, row))
        for row in AuditEntry.objects.values_list("action", "target_type", "target_id")
    )
    assert "secret-guess" not in entries
    assert wrong not in entries
