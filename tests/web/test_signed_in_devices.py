"""A member's own list of signed-in browsers, each of which they can end (ASVS 7.5.2), and an
administrator's "Sign out everywhere" that ends the member's sessions at that practice only
(issue 19: it ended their sessions at every practice)."""

from __future__ import annotations

import datetime as dt
import io

from django.contrib.sessions.models import Session as StoredSession
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from signing_in import authenticator, code_of, code_step, password_step, sign_in
from web_practice import Practice

from ally.web.accounts.models import SignedInSession
from ally.web.accounts.sessions import DEVICE_ROW, device_name
from ally.web.auditlog.models import AuditEntry
from ally.web.practice.models import Membership
from ally.web.scoping import Role

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
PHONE = (
    "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/141.0.0.0 Mobile Safari/537.36"
)


def _signed_in_with(practice: Practice, agent: str, address: str) -> Client:
    user = practice.clinician.user
    device = authenticator(user)
    browser = Client(HTTP_USER_AGENT=agent, REMOTE_ADDR=address)
    password_step(browser, user.email)
    assert code_step(browser, code_of(device, 0)).status_code == 302
    return browser


def test_the_account_page_lists_each_browser_and_marks_this_one(practice: Practice) -> None:
    desk = _signed_in_with(practice, FIREFOX, "192.0.2.10")
    phone = Client(HTTP_USER_AGENT=PHONE, REMOTE_ADDR="198.51.100.20")
    sign_in(phone, practice.clinician.user)
    # A session from before devices were listed is listed from its next request.
    session = phone.session
    SignedInSession.objects.filter(pk=session.pop(DEVICE_ROW)).delete()
    session.save()
    assert phone.get("/o/north/").status_code == 200
    page = desk.get("/accounts/security/").content.decode()
    assert "Firefox on Linux <strong>(this device)</strong>" in page
    assert "Chrome on Android" in page
    assert "192.0.2.10" in page
    assert "198.51.100.20" in page
    assert FIREFOX not in page, "the raw User-Agent is not kept"


def test_a_member_ends_one_other_browser_and_keeps_the_rest(practice: Practice) -> None:
    desk = _signed_in_with(practice, FIREFOX, "192.0.2.10")
    phone, laptop = Client(HTTP_USER_AGENT=PHONE), Client()
    for browser in (phone, laptop):
        sign_in(browser, practice.clinician.user)
        browser.get("/o/north/")
    row = SignedInSession.objects.get(session_key=phone.session.session_key)
    answer = desk.post(f"/accounts/security/devices/{row.pk}/end/")
    assert answer["Location"] == "/accounts/security/"
    assert phone.get("/o/north/")["Location"].startswith("/accounts/login/")
    assert laptop.get("/o/north/").status_code == 200
    assert desk.get("/o/north/").status_code == 200
    assert "session.device_ended" in AuditEntry.objects.values_list("action", flat=True)


def test_a_browser_whose_session_changed_key_is_ended_by_its_row(practice: Practice) -> None:
    """The row is the authority: a session that kept its data under a new key (a password change
    elsewhere renews keys) still ends when its row is gone, and says why."""
    phone = Client()
    sign_in(phone, practice.clinician.user)
    phone.get("/o/north/")
    SignedInSession.objects.filter(user=practice.clinician.user).delete()
    ended = phone.get("/o/north/")
    assert ended["Location"].startswith("/accounts/login/")
    said = phone.get(ended["Location"]).content.decode()
    assert "This device was signed out from your account page" in said


def test_the_browser_in_use_and_another_members_browser_cannot_be_ended_here(
    practice: Practice,
) -> None:
    desk = _signed_in_with(practice, FIREFOX, "192.0.2.10")
    mine = SignedInSession.objects.get(user=practice.clinician.user)
    theirs = Client()
    sign_in(theirs, practice.colleague.user)
    theirs.get("/o/north/")
    other = SignedInSession.objects.get(user=practice.colleague.user)
    for pk in (mine.pk, other.pk):
        page = desk.post(f"/accounts/security/devices/{pk}/end/", follow=True)
        assert page.status_code == 200
    assert desk.get("/o/north/").status_code == 200
    assert theirs.get("/o/north/").status_code == 200
    assert SignedInSession.objects.filter(pk__in=[mine.pk, other.pk]).count() == 2


def test_an_administrators_sign_out_ends_the_members_sessions_at_that_practice_only(
    practice: Practice,
) -> None:
    user = practice.clinician.user
    Membership.objects.create(
        user=user, organisation=practice.outsider.organisation, role=Role.SUPERVISOR
    )
    north_only, both = Client(), Client()
    sign_in(north_only, user)
    sign_in(both, user)
    admin = Client()
    sign_in(admin, practice.admin.user)
    admin.post(f"/o/north/members/{practice.clinician.pk}/sign-out/")
    assert both.get("/o/south/").status_code == 200, "the other practice's session goes on"
    assert both.get("/api/o/south/episodes").status_code == 200
    refused = north_only.get("/o/north/")
    assert refused["Location"].startswith("/accounts/login/")
    said = north_only.get(refused["Location"]).content.decode()
    assert "An administrator of this practice signed you out of it" in said
    api = Client()
    sign_in(api, user)
    admin.post(f"/o/north/members/{practice.clinician.pk}/sign-out/")
    assert api.get("/api/o/north/episodes").status_code == 401
    again = Client()
    sign_in(again, user)  # a new sign-in after the administrator's opens the practice again
    assert again.get("/o/north/").status_code == 200


def test_purge_expired_forgets_browsers_whose_sessions_are_gone(practice: Practice) -> None:
    desk, gone = Client(), Client()
    for browser in (desk, gone):
        sign_in(browser, practice.clinician.user)
        browser.get("/o/north/")
    StoredSession.objects.filter(session_key=gone.session.session_key).update(
        expire_date=timezone.now() - dt.timedelta(seconds=1)
    )
    call_command("purge_expired", stdout=io.StringIO())
    assert list(SignedInSession.objects.values_list("session_key", flat=True)) == [
        desk.session.session_key
    ]


def test_a_browser_gets_a_short_name_without_its_version() -> None:
    assert device_name(FIREFOX) == "Firefox on Linux"
    assert device_name(PHONE) == "Chrome on Android"
    assert device_name("curl/8.5") == "Unknown browser"
