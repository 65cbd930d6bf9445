"""Lockout (django-axes): wrong passwords and wrong codes of one account count together; at the
limit (AXES_FAILURE_LIMIT, 5) the account is locked until an administrator unlocks it."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from signing_in import authenticator, code_of, code_step, password_step, sign_in
from web_practice import Practice

from ally.web.accounts.lockout import is_locked_anywhere
from ally.web.auditlog.models import AuditEntry

STAFF_PAGE = "/o/north/"


def _wrong(device: Any) -> str:
    return f"{(int(code_of(device)) + 1) % 1_000_000:06d}"


def _actions(membership: Any) -> list[str]:
    return list(
        AuditEntry.objects.filter(
            target_type="practice.Membership", target_id=str(membership.pk)
        ).values_list("action", flat=True)
    )


def _is_the_locked_page(answer: Any) -> bool:
    return answer.status_code == 403 and "Your account is locked" in answer.content.decode()


def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(
    practice: Practice,
) -> None:
    email = practice.clinician.user.email
    browser = Client()
    answers = [password_step(browser, email, password=f"guess {n}") for n in range(5)]
    assert all(a.status_code == 200 for a in answers[:4])
    assert _is_the_locked_page(answers[4])
    assert "administrator" in answers[4].content.decode()
    assert _is_the_locked_page(password_step(Client(), email))
    assert is_locked_anywhere(email)
    actions = _actions(practice.clinician)
    assert actions.count("login.failed") == 6
    assert actions.count("account.locked") == 1


def test_wrong_codes_count_with_wrong_passwords(practice: Practice) -> None:
    user = practice.clinician.user
    device = authenticator(user)
    browser = Client()
    password_step(browser, user.email, password="a typo")
    password_step(browser, user.email)
    answers = [code_step(browser, _wrong(device)) for _ in range(4)]
    assert all(a.status_code == 200 for a in answers[:3])
    assert _is_the_locked_page(answers[3])
    # The pending sign-in is dropped: even the right code does not get in now.
    assert code_step(browser, code_of(device))["Location"] == "/accounts/login/"
    assert browser.get(STAFF_PAGE).status_code == 302
    assert _is_the_locked_page(password_step(Client(), user.email))


def test_a_locked_member_with_a_pending_sign_in_cannot_finish_it(practice: Practice) -> None:
    user = practice.clinician.user
    device = authenticator(user)
    mine, guesser = Client(), Client()
    password_step(mine, user.email)
    for n in range(5):
        password_step(guesser, user.email, password=f"guess {n}")
    assert _is_the_locked_page(code_step(mine, code_of(device)))
    assert mine.get(STAFF_PAGE).status_code == 302


def test_the_failure_limit_is_a_setting(practice: Practice, settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    email = practice.clinician.user.email
    browser = Client()
    answers = [password_step(browser, email, password=f"guess {n}") for n in range(3)]
    assert _is_the_locked_page(answers[2])


def test_signing_in_clears_earlier_failures(practice: Practice) -> None:
    user = practice.clinician.user
    device = authenticator(user)
    browser = Client()
    for n in range(4):
        password_step(browser, user.email, password=f"guess {n}")
    password_step(browser, user.email)
    assert code_step(browser, code_of(device)).status_code == 302
    # Four more wrong passwords: not locked, the count started again.
    again = Client()
    answers = [password_step(again, user.email, password=f"guess {n}") for n in range(4)]
    assert all(a.status_code == 200 for a in answers)
    assert not is_locked_anywhere(user.email)


def test_wrong_confirmations_on_the_account_page_lock_and_sign_out(practice: Practice) -> None:
    user = practice.clinician.user
    browser = Client()
    sign_in(browser, user)
    answers = [
        browser.post("/accounts/security/confirm/", {"password": f"guess {n}", "code": "000000"})
        for n in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert _is_the_locked_page(answers[-1])
    assert browser.get(STAFF_PAGE).status_code == 302
    assert "session.locked" in _actions(practice.clinician)


def test_an_administrator_unlocks_a_locked_member(practice: Practice) -> None:
    user = practice.clinician.user
    device = authenticator(user)
    for n in range(5):
        password_step(Client(), user.email, password=f"guess {n}")
    admin = Client()
    sign_in(admin, practice.admin.user)
    page = admin.get("/o/north/members/")
    row = next(r for r in page.context["members"] if r.membership == practice.clinician)
    assert row.locked
    answer = admin.post(f"/o/north/members/{practice.clinician.pk}/unlock/")
    assert answer["Location"] == "/o/north/members/"
    assert not is_locked_anywhere(user.email)
    browser = Client()
    password_step(browser, user.email)
    assert code_step(browser, code_of(device)).status_code == 302
    entry = AuditEntry.objects.get(action="account.unlocked")
    assert (entry.actor_id, entry.target_id) == (practice.admin.pk, str(practice.clinician.pk))


@pytest.mark.parametrize("role", ["supervisor", "researcher", "clinician"])
def test_only_an_administrator_unlocks(practice: Practice, role: str) -> None:
    email = practice.colleague.user.email
    for n in range(5):
        password_step(Client(), email, password=f"guess {n}")
    browser = Client()
    sign_in(browser, getattr(practice, role).user)
    answer = browser.post(f"/o/north/members/{practice.colleague.pk}/unlock/")
    assert answer.status_code == 403
    assert is_locked_anywhere(email)


def test_another_practices_administrator_cannot_unlock(practice: Practice) -> None:
    from web_practice import member

    from ally.web.scoping import Role

    south_admin = member(practice.outsider.organisation, Role.ADMIN, "admin")
    email = practice.colleague.user.email
    for n in range(5):
        password_step(Client(), email, password=f"guess {n}")
    browser = Client()
    sign_in(browser, south_admin.user)
    for url in (
        f"/o/north/members/{practice.colleague.pk}/unlock/",
        f"/o/south/members/{practice.colleague.pk}/unlock/",
    ):
        assert browser.post(url).status_code == 404, url
    assert is_locked_anywhere(email)


def test_whoever_runs_the_server_unlocks_from_the_command_line(practice: Practice) -> None:
    from django.core.management import CommandError, call_command

    email = practice.admin.user.email
    for n in range(5):
        password_step(Client(), email, password=f"guess {n}")
    assert is_locked_anywhere(email)
    call_command("unlock_account", email)
    assert not is_locked_anywhere(email)
    assert "account.unlocked" in _actions(practice.admin)
    with pytest.raises(CommandError, match="No account"):
        call_command("unlock_account", "nobody@north.example")


# Cool-off and addresses (issue 19, finding 2: five tries with a known email locked the account
# until someone unlocked it, so a stranger could lock out every administrator) -----------------

STRANGER = "203.0.113.66"
"""An address from RFC 5737's documentation block: the guesser's."""


def _age_failures(minutes: int) -> None:
    """Move every counted failure `minutes` into the past, as the clock would."""
    from datetime import timedelta

    from axes.models import AccessAttempt
    from django.db.models import F

    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=minutes))


def test_a_stranger_who_locks_every_administrator_does_not_lock_them_out_at_their_desks(
    practice: Practice,
) -> None:
    admins = [practice.admin.user]
    for user in admins:
        for n in range(settings.AXES_FAILURE_LIMIT):
            password_step(Client(REMOTE_ADDR=STRANGER), user.email, password=f"guess {n}")
        assert _is_the_locked_page(password_step(Client(REMOTE_ADDR=STRANGER), user.email))
        assert is_locked_anywhere(user.email)
    for user in admins:
        device = authenticator(user)
        browser = Client(REMOTE_ADDR="192.0.2.10")
        assert password_step(browser, user.email)["Location"] == "/accounts/two-factor/"
        assert code_step(browser, code_of(device)).status_code == 302
        assert browser.get(STAFF_PAGE).status_code == 200


def test_after_the_cool_off_tries_are_allowed_again(practice: Practice) -> None:
    user = practice.clinician.user
    device = authenticator(user)
    for n in range(settings.AXES_FAILURE_LIMIT):
        password_step(Client(), user.email, password=f"guess {n}")
    assert _is_the_locked_page(password_step(Client(), user.email))
    _age_failures(settings.AXES_COOLOFF_TIME.seconds // 60 - 1)
    assert _is_the_locked_page(password_step(Client(), user.email))
    _age_failures(settings.AXES_COOLOFF_TIME.seconds // 60 + 1)
    browser = Client()
    assert password_step(browser, user.email)["Location"] == "/accounts/two-factor/"
    assert code_step(browser, code_of(device)).status_code == 302
    assert not is_locked_anywhere(user.email)


def test_a_try_while_locked_starts_the_wait_again(practice: Practice) -> None:
    email = practice.clinician.user.email
    for n in range(settings.AXES_FAILURE_LIMIT):
        password_step(Client(), email, password=f"guess {n}")
    minutes = settings.AXES_COOLOFF_TIME.seconds // 60
    _age_failures(minutes - 1)
    assert _is_the_locked_page(password_step(Client(), email, password="one more guess"))
    _age_failures(2)
    # The cool-off counts from the last try, not the first lock.
    assert _is_the_locked_page(password_step(Client(), email))


def test_the_locked_page_says_how_long_and_who_can_unlock_sooner(practice: Practice) -> None:
    email = practice.clinician.user.email
    answers = [
        password_step(Client(), email, password=f"guess {n}")
        for n in range(settings.AXES_FAILURE_LIMIT)
    ]
    text = answers[-1].content.decode()
    minutes = settings.AXES_COOLOFF_TIME.seconds // 60
    assert f"Try again in {minutes} minutes." in text
    assert "administrator can unlock" in text
    assert "this address only" in text


def test_the_cool_off_is_a_setting(practice: Practice, settings: Any) -> None:
    from datetime import timedelta

    settings.AXES_COOLOFF_TIME = timedelta(minutes=2)
    email = practice.clinician.user.email
    for n in range(settings.AXES_FAILURE_LIMIT):
        password_step(Client(), email, password=f"guess {n}")
    _age_failures(3)
    assert password_step(Client(), email)["Location"] == "/accounts/two-factor/"


def test_failures_are_counted_from_the_address_behind_trusted_proxies_only(
    practice: Practice, settings: Any
) -> None:
    from axes.models import AccessAttempt

    email = practice.clinician.user.email
    settings.ALLY_PROXY_COUNT = 1
    password_step(Client(HTTP_X_FORWARDED_FOR="198.51.100.7"), email, password="a typo")
    password_step(Client(HTTP_X_FORWARDED_FOR="=1+1"), email, password="a typo")
    settings.ALLY_PROXY_COUNT = 0
    password_step(Client(HTTP_X_FORWARDED_FOR="198.51.100.8"), email, password="a typo")
    assert sorted(str(a) for a in AccessAttempt.objects.values_list("ip_address", flat=True)) == [
        "127.0.0.1",
        "198.51.100.7",
        "None",
    ]
