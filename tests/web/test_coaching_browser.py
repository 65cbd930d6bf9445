"""Issue 14's screens in a real browser (Debian's Chromium), each checked with axe-core: a fresh
install's set-up through the second factor to the members page and an invitation; a coaching
practice's engagement, team, sponsor, self-care and public pages; and the client's WHO-5 and
sponsor consent pages."""

from __future__ import annotations

import datetime as dt
from base64 import b32decode
from typing import Any

import pytest
from django.utils import timezone
from django_otp.oath import totp
from test_journey import Accessibility, browser, live_server  # noqa: F401
from test_staff_screens_browser import signed_in

from ally.web.accounts.joining import setup_url
from ally.web.accounts.models import User
from ally.web.actions.sponsors import do_set_sponsor
from ally.web.collect.models import Administration
from ally.web.demo_coaching import load_coaching_demo
from ally.web.practice.models import Episode, Membership, Organisation
from ally.web.respond.links import signed_token

LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
NOW = timezone.make_aware(dt.datetime(2026, 6, 1, 9))


def _make(org: Organisation, email: str, name: str, role: str) -> Membership:
    user = User.objects.create_user(email, "pw", display_name=name)
    return Membership.objects.create(user=user, organisation=org, role=role)


def test_a_fresh_install_is_set_up_in_the_browser(browser: Any, live_server: Any) -> None:  # noqa: F811
    a11y = Accessibility()
    page = browser.new_context(viewport=LAPTOP).new_page()
    page.goto(f"{live_server.url}/")
    assert page.url.endswith("/setup/")
    a11y.check(page)  # the page that asks for the set-up link
    page.goto(setup_url(live_server.url))
    a11y.check(page)
    page.fill("#id_name", "Harbour Coaching")
    page.check("input[name=kind][value=coaching]")
    page.check("input[name=client_word][value=coachee]")
    page.fill("#id_display_name", "Ada Admin")
    page.fill("#id_email", "ada@harbour.example")
    page.fill("#id_password", "correct horse battery staple")
    page.click("main button[type=submit]")
    assert page.url.endswith("/accounts/two-factor/setup/"), page.inner_text("main")
    a11y.check(page)
    secret = "".join(page.inner_text("#totp-secret").split())
    code = f"{totp(b32decode(secret + '=' * (-len(secret) % 8))):06d}"
    page.fill("input[name=code]", code)
    page.click("main button[type=submit]")
    a11y.check(page)  # the recovery codes
    page.goto(f"{live_server.url}/o/harbour-coaching/members/")
    a11y.check(page)
    page.fill("#id_email", "coach@harbour.example")
    page.select_option("#id_role", "clinician")
    page.click("text=Send the invitation")
    assert "An invitation went to coach@harbour.example" in page.content()
    a11y.check(page)
    assert a11y.problems == [], "\n".join(a11y.problems)


@pytest.fixture
def coaching(live_server: Any, settings: Any) -> Organisation:  # noqa: F811
    settings.SESSION_COOKIE_NAME = "sessionid"
    settings.SESSION_COOKIE_SECURE = False
    return load_coaching_demo(
        [
            ("admin@c.example", "Ada", "admin"),
            ("coach1@c.example", "Coach One", "clinician"),
            ("coach2@c.example", "Coach Two", "clinician"),
        ],
        _make,
        NOW,
        seed=2,
    )


def test_a_coaching_practices_pages_pass_axe(
    browser: Any,  # noqa: F811
    live_server: Any,  # noqa: F811
    coaching: Organisation,
) -> None:
    a11y = Accessibility()
    coach = Membership.objects.get(user__email="coach1@c.example")
    engagement = Episode.objects.filter(clinician=coach).order_by("pk").first()
    do_set_sponsor(engagement, "Northwind Ltd", actor=coach)
    for viewport in (LAPTOP, PHONE):
        page = signed_in(browser, live_server, coach, viewport)
        for path in (
            "/o/coaching/",
            f"/o/coaching/episodes/{engagement.pk}/",
            f"/o/coaching/episodes/{engagement.pk}/care-team/",
            f"/o/coaching/episodes/{engagement.pk}/sponsor/",
            "/o/coaching/self-care/",
            "/o/coaching/profile/me/",
            "/p/coaching/",
        ):
            page.goto(f"{live_server.url}{path}")
            a11y.check(page)
    admin = signed_in(browser, live_server, Membership.objects.get(role="admin"), LAPTOP)
    for path in ("/o/coaching/members/", "/o/coaching/profile/", "/o/coaching/self-care/"):
        admin.goto(f"{live_server.url}{path}")
        a11y.check(admin)

    form = Administration.objects.filter(
        episode=engagement, measure_id="who5", completed_at=None
    ).first()
    client = browser.new_context(viewport=PHONE).new_page()
    client.goto(f"{live_server.url}/a/{signed_token(form)}/")
    a11y.check(client)
    assert "WHO-5" in client.content()
    client.click("text=Choose what they see")
    a11y.check(client)
    client.check("input[name=agreed][value=yes]")
    client.click("main button[type=submit]")
    assert a11y.problems == [], "\n".join(a11y.problems)
