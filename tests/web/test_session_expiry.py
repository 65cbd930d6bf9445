"""Members' sessions end after ALLY_SESSION_IDLE_MINUTES without a request and
ALLY_SESSION_MAX_HOURS after signing in, and the next page says why (ASVS 7.3.1, 7.3.2); a
client's visit (/a/) keeps its own limit."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from signing_in import authenticator, code_of, code_step, password_step, sign_in
from web_practice import PHQ9_MILD, Practice

from ally.web.accounts.sessions import SEEN_AT, SIGNED_IN_AT
from ally.web.actions.answers import do_create_administration
from ally.web.auditlog.models import AuditEntry
from ally.web.collect.models import Response
from ally.web.respond.links import signed_token

STAFF_PAGE = "/o/north/"
API = "/api/o/north/episodes"
MINUTE = 60
HOUR = 3600


def _signed_in(practice: Practice) -> Client:
    browser = Client()
    sign_in(browser, practice.clinician.user)
    return browser


def _shift(browser: Client, **ago: float) -> None:
    """Move the session's start or last request back by the given seconds."""
    session = browser.session
    now = time.time()
    if "signed_in" in ago:
        session[SIGNED_IN_AT] = now - ago["signed_in"]
    if "seen" in ago:
        session[SEEN_AT] = now - ago["seen"]
    session.save()


def _says(browser: Client, answer: Any, words: str) -> bool:
    page = browser.get(answer["Location"])
    return words in page.content.decode()


def test_an_idle_session_ends_and_the_sign_in_page_says_why(practice: Practice) -> None:
    browser = _signed_in(practice)
    _shift(browser, seen=settings.ALLY_SESSION_IDLE_MINUTES * MINUTE + 1)
    answer = browser.get(STAFF_PAGE + "caseload/")
    assert answer.status_code == 302
    assert answer["Location"] == "/accounts/login/?next=/o/north/caseload/"
    assert _says(browser, answer, "30 minutes without activity")
    assert browser.get(STAFF_PAGE).status_code == 302, "signed out, not just redirected once"
    assert AuditEntry.objects.filter(
        action="session.idle", target_id=str(practice.clinician.pk)
    ).exists()


def test_a_request_within_the_idle_minutes_keeps_the_session(practice: Practice) -> None:
    browser = _signed_in(practice)
    _shift(browser, seen=settings.ALLY_SESSION_IDLE_MINUTES * MINUTE - MINUTE)
    assert browser.get(STAFF_PAGE + "caseload/").status_code == 200
    # The request counts as activity: the idle time starts again.
    assert time.time() - browser.session[SEEN_AT] < MINUTE


def test_a_session_ends_after_the_maximum_hours_whatever_the_activity(
    practice: Practice,
) -> None:
    browser = _signed_in(practice)
    _shift(browser, signed_in=settings.ALLY_SESSION_MAX_HOURS * HOUR + 1, seen=0)
    answer = browser.get(STAFF_PAGE + "caseload/")
    assert answer.status_code == 302
    assert _says(browser, answer, "more than 12 hours ago")
    assert AuditEntry.objects.filter(action="session.expired").exists()


def test_the_api_answers_401_in_its_error_shape_when_the_session_ended(
    practice: Practice,
) -> None:
    browser = _signed_in(practice)
    assert browser.get(API).status_code == 200
    _shift(browser, seen=settings.ALLY_SESSION_IDLE_MINUTES * MINUTE + 1)
    answer = browser.get(API)
    assert answer.status_code == 401
    assert set(answer.json()) == {"detail", "errors"}
    assert "without activity" in answer.json()["detail"]


def test_an_htmx_request_moves_the_whole_page_to_the_sign_in(practice: Practice) -> None:
    browser = _signed_in(practice)
    _shift(browser, seen=settings.ALLY_SESSION_IDLE_MINUTES * MINUTE + 1)
    answer = browser.get(STAFF_PAGE + "caseload/", headers={"HX-Request": "true"})
    assert answer["HX-Redirect"].startswith("/accounts/login/")


@pytest.mark.parametrize(
    ("setting", "value", "ago"),
    [
        ("ALLY_SESSION_IDLE_MINUTES", 5, {"seen": 6 * MINUTE}),
        ("ALLY_SESSION_MAX_HOURS", 1, {"signed_in": 61 * MINUTE, "seen": 0}),
    ],
)
def test_the_limits_are_settings(
    practice: Practice, settings: Any, setting: str, value: int, ago: dict[str, float]
) -> None:
    browser = _signed_in(practice)
    _shift(browser, **ago)
    assert browser.get(STAFF_PAGE).status_code == 200, "within the default limits"
    _shift(browser, **ago)  # the request above was activity
    setattr(settings, setting, value)
    assert browser.get(STAFF_PAGE).status_code == 302


def test_signing_in_starts_the_clock_and_the_cookie_ends_with_the_session(
    practice: Practice,
) -> None:
    user = practice.clinician.user
    device = authenticator(user)
    browser = Client()
    password_step(browser, user.email)
    before = time.time()
    code_step(browser, code_of(device))
    session = browser.session
    assert before <= session[SIGNED_IN_AT] <= time.time()
    # The stored session (and the cookie) last the maximum hours, plus an hour to say why.
    lasts = (session.get_expiry_date() - timezone.now()).total_seconds()
    assert (
        settings.ALLY_SESSION_MAX_HOURS * HOUR
        < lasts
        <= (settings.ALLY_SESSION_MAX_HOURS + 1) * HOUR
    )
    cookie = browser.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["expires"], "a dated cookie, gone with the session"


def test_a_clients_visit_outlasts_the_members_idle_limit(
    practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client answers on the clinician's tablet after the clinician's session went idle:
    the answers are stored, and the clinician's session ends only on a staff page."""
    administration = do_create_administration(practice.own, "phq9")
    tablet = _signed_in(practice)
    tablet.get(reverse("respond:open", kwargs={"signed": signed_token(administration)}))
    page = tablet.get("/a/")
    assert page.status_code == 200
    key = page.context["key"]
    # Three quarters of an hour pass before the client answers.
    later = time.time() + 45 * MINUTE
    monkeypatch.setattr(time, "time", lambda: later)
    answers = {f"item_{n}": str(v) for n, v in enumerate(PHQ9_MILD, start=1)}
    data = {"administration": str(administration.pk), "key": key, "action": "submit", **answers}
    answer = tablet.post("/a/", data)
    assert answer.status_code == 302
    assert Response.objects.filter(administration=administration).count() == 1
    assert tablet.get("/a/done/").status_code == 200
    assert tablet.get(STAFF_PAGE).status_code == 302


def test_a_session_not_started_by_the_sign_in_steps_is_ended(practice: Practice) -> None:
    browser = Client()
    browser.force_login(practice.clinician.user)
    session = browser.session
    session["otp_device_id"] = authenticator(practice.clinician.user).persistent_id
    session.save()
    answer = browser.get(STAFF_PAGE)
    assert answer.status_code == 302
    assert _says(browser, answer, "Your session has ended")


def test_signing_out_ends_the_session_and_is_audited(practice: Practice) -> None:
    browser = _signed_in(practice)
    assert browser.get("/accounts/logout/").status_code == 405, "a link cannot sign anyone out"
    answer = browser.post("/accounts/logout/")
    assert answer["Location"] == "/accounts/login/"
    assert "You are signed out" in browser.get(answer["Location"]).content.decode()
    assert browser.get(STAFF_PAGE).status_code == 302
    assert AuditEntry.objects.filter(
        action="session.signed_out", actor_id=practice.clinician.pk
    ).exists()


def test_a_form_sent_after_the_session_ended_leads_to_the_sign_in_without_coming_back(
    practice: Practice,
) -> None:
    browser = _signed_in(practice)
    _shift(browser, seen=settings.ALLY_SESSION_IDLE_MINUTES * MINUTE + 1)
    answer = browser.post(f"/o/north/episodes/{practice.own.pk}/end/", {"reason": "completed"})
    assert answer["Location"] == "/accounts/login/"


def test_signing_out_everywhere_else_ends_the_other_sessions_and_keeps_this_one(
    practice: Practice,
) -> None:
    here, there = _signed_in(practice), _signed_in(practice)
    assert there.get(STAFF_PAGE).status_code == 200
    assert here.get(reverse("sign_out_elsewhere")).status_code == 405, "a link cannot do it"
    answer = here.post(reverse("sign_out_elsewhere"))
    assert answer["Location"] == reverse("security")
    assert "signed out on every other device" in here.get(answer["Location"]).content.decode()
    assert here.get(STAFF_PAGE).status_code == 200
    assert there.get(STAFF_PAGE)["Location"].startswith("/accounts/login/")
    assert there.get(API).status_code == 401
    assert AuditEntry.objects.filter(
        action="session.signed_out_everywhere", actor_id=practice.clinician.pk
    ).exists()
    # Signing in again on the other device works as before (the helper signs in with the
    # user object it is given, so it gets the stored one).
    practice.clinician.user.refresh_from_db()
    again = _signed_in(practice)
    assert again.get(STAFF_PAGE).status_code == 200
