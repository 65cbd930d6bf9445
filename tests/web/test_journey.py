"""The whole journey in a real browser (Debian's Chromium, driven by Playwright), checked with
axe-core on every page: a clinician signs in (setting up an authenticator app at the first
sign-in), looks at their account page, creates a client and an episode, plans the
measures, schedules a session and sends the link; the client, on a phone-sized screen, answers
PHQ-9 (with the self-harm item endorsed) and the alliance check-in; the clinician sees the new
point on the chart and the alert, and records what was done.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from base64 import b32encode
from collections.abc import Iterator
from typing import Any

import pytest
from django.core import mail
from django.db import connections
from django.utils import timezone

from ally.web.accounts.models import User
from ally.web.alerts.models import Alert, AlertKind
from ally.web.collect.models import Response
from ally.web.practice.models import Membership, Organisation, Session
from ally.web.scoping import Role

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PHONE = {"width": 375, "height": 740}
PASSWORD = "a long journey passphrase"
CRISIS = "Riverside duty line: 0100 000 001"

# The live server thread and the browser's event loop share this process with the ORM.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _chromium() -> str:
    path = shutil.which("chromium") or (CHROMIUM if os.path.exists(CHROMIUM) else None)
    if path is None:
        if os.environ.get("ALLY_REQUIRE_BROWSER"):
            pytest.fail("Debian's chromium is not installed; .ci/run installs it with apt-get.")
        pytest.skip("the browser journey needs Debian's chromium (apt-get install chromium)")
    return path


@pytest.fixture
def browser() -> Iterator[Any]:
    executable = _chromium()
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
        # The test's own queries ran in Playwright's context, which gave them a database
        # connection of their own; closed here, or it outlives the test database.
        connections.close_all()


class Accessibility:
    """Runs axe-core on each page and keeps what it found, with the page's address."""

    def __init__(self) -> None:
        from axe_playwright_python.sync_playwright import Axe

        self.axe = Axe()
        self.pages: list[str] = []
        self.problems: list[str] = []

    def check(self, page: Any) -> None:
        results = self.axe.run(page)
        self.pages.append(page.url)
        if results.violations_count:
            self.problems.append(f"{page.url}:\n{results.generate_report()}")


@pytest.fixture
def live_server(transactional_db: None, settings: Any) -> Iterator[Any]:
    """A live server of this test's own, started after the settings below: the middleware
    reads them once, when the server starts. The browser speaks plain HTTP to it."""
    from pytest_django.live_server_helper import LiveServer

    settings.SECURE_SSL_REDIRECT = False
    server = LiveServer("localhost:0")
    yield server
    server.stop()


@pytest.fixture
def practice(transactional_db: None, settings: Any, live_server: Any) -> Membership:
    settings.ALLY_BASE_URL = live_server.url
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    org = Organisation.objects.create(name="Riverside", slug="riverside", crisis_contacts=CRISIS)
    user = User.objects.create_user("robin@riverside.example", PASSWORD, display_name="Robin")
    return Membership.objects.create(user=user, organisation=org, role=Role.CLINICIAN)


def _code_of(secret: str) -> str:
    """The code an authenticator app shows now for the key typed from the setup page."""
    from base64 import b32decode

    from django_otp.oath import totp

    key = "".join(secret.split())
    return f"{totp(b32decode(key + '=' * (-len(key) % 8))):06d}"


class PolicyWatch:
    """Collects what the Content-Security-Policy blocked on the pages it watches: the policy is
    strict, so anything inline (a script, a style) would show up here."""

    def __init__(self) -> None:
        self.blocked: list[str] = []

    def watch(self, page: Any) -> Any:
        page.on("console", self._console)
        return page

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.blocked.append(message.text)


def _submit(page: Any) -> None:
    """The main form's submit button (the header holds the language form)."""
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_load_state()


def test_the_whole_journey_in_a_browser(
    browser: Any, practice: Membership, live_server: Any
) -> None:
    a11y = Accessibility()
    policy = PolicyWatch()
    staff = browser.new_context(viewport={"width": 1280, "height": 900})
    page = policy.watch(staff.new_page())

    # The clinician signs in: the password, then (at the first sign-in) an authenticator app
    # set up from the key on the page, then the recovery codes; and lands on an empty caseload.
    page.goto(f"{live_server.url}/")
    a11y.check(page)
    page.get_by_label("Email address").fill(practice.user.email)
    page.get_by_label("Password").fill(PASSWORD)
    _submit(page)
    assert page.url.endswith("/accounts/two-factor/setup/")
    a11y.check(page)
    assert page.locator("main .qr svg").count() == 1
    page.get_by_label("Code from the app").fill(_code_of(page.locator("#totp-secret").inner_text()))
    _submit(page)
    assert page.url.endswith("/accounts/recovery-codes/")
    a11y.check(page)
    assert page.locator("main .recovery-codes li").count() == 10
    page.get_by_role("link", name=re.compile("continue")).click()
    page.wait_for_load_state()
    assert page.url.endswith("/o/riverside/")
    a11y.check(page)
    # The account page, from the header's account menu.
    page.locator("header .account-menu summary").click()
    page.get_by_role("link", name="Your account").click()
    page.wait_for_load_state()
    assert page.url.endswith("/accounts/security/")
    a11y.check(page)
    page.get_by_role("link", name="Change your password").click()
    page.wait_for_load_state()
    assert "/accounts/security/confirm/" in page.url
    a11y.check(page)
    page.goto(f"{live_server.url}/o/riverside/")

    # A new client, with their first episode.
    page.get_by_role("link", name="New client", exact=True).click()
    a11y.check(page)
    page.get_by_label("Client code").fill("R-001")
    page.get_by_label("Name").fill("Sam Example")
    page.get_by_label("Email").first.fill("sam@example.org")
    _submit(page)
    # A new episode starts at its measurement plan.
    assert re.search(r"/o/riverside/episodes/\d+/plan/$", page.url)
    episode_url = page.url.removesuffix("plan/")
    a11y.check(page)

    # The plan: PHQ-9 before each session, the alliance check-in after it.
    for measure, timing in (("phq9", "before"), ("ally-alliance", "after")):
        page.get_by_label("Measure", exact=True).select_option(measure)
        page.get_by_label("Who answers", exact=True).select_option("client")
        page.get_by_label("When", exact=True).select_option(timing)
        page.get_by_role("button", name="Add to the plan").click()
        page.wait_for_load_state()
    a11y.check(page)

    # A session in an hour: its forms are created from the plan.
    page.goto(episode_url)
    page.get_by_role("link", name="Schedule a session").first.click()
    a11y.check(page)
    start = timezone.localtime() + dt.timedelta(hours=1)
    page.get_by_label("Date and time").fill(start.strftime("%Y-%m-%dT%H:%M"))
    _submit(page)
    page.goto(episode_url)
    page.get_by_role("link", name=re.compile("Send, copy or show the link.*PHQ-9")).click()
    a11y.check(page)
    link = page.locator("#client-link").input_value()
    page.get_by_role("button", name="Send the link by email").click()
    page.wait_for_load_state()
    a11y.check(page)
    assert [m.to for m in mail.outbox] == [["sam@example.org"]]
    # The same token, signed again when the email was written (the timestamp may differ).
    assert link.rsplit(":", 2)[0] in mail.outbox[0].body

    # The client, on a phone: the link's token leaves the address bar at once.
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    client = policy.watch(phone.new_page())
    client.goto(link)
    assert client.url == f"{live_server.url}/a/"
    a11y.check(client)
    assert client.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # PHQ-9: several days for items 1-8, and item 9 (thoughts of self-harm) endorsed.
    for item in range(1, 10):
        client.locator(f"input[name=item_{item}][value='{2 if item == 9 else 1}']").check()
    _submit(client)
    # The safety message comes at once, with the practice's crisis contacts (numbers call on a tap).
    assert CRISIS in client.locator("main").inner_text()
    assert client.locator("main a[href='tel:0100000001']").count() == 1
    a11y.check(client)
    _submit(client)
    # The check-in about the session opens once the session has started; the page says so.
    assert client.url.endswith("/a/done/")
    assert "After your session you will be asked a few questions about it." in client.content()
    a11y.check(client)

    # The session has started (an hour passes): the clinician shows the check-in's link.
    Session.objects.update(scheduled_at=timezone.now() - dt.timedelta(minutes=50))
    page.goto(episode_url)
    page.get_by_role("link", name=re.compile("Send, copy or show the link.*alliance", re.I)).click()
    check_in = page.locator("#client-link").input_value()
    client.goto(check_in)
    assert client.url == f"{live_server.url}/a/"
    for item in range(1, 8):
        client.locator(f"input[name=item_{item}][value='3']").check()
    _submit(client)
    assert client.url.endswith("/a/done/")
    assert "nothing more to do, and you can close" in client.content()
    a11y.check(client)
    phone.close()
    assert Response.objects.count() == 2

    # The clinician sees the new point and the alert, and records what was done.
    page.goto(episode_url)
    a11y.check(page)
    assert page.locator("figure.chart svg").count() >= 2
    table = page.locator("details", has_text="Patient Health Questionnaire-9").first
    table.locator("summary").click()
    # Items 1-8 answered 1, item 9 answered 2: a total of 10.
    assert table.locator("td", has_text=re.compile(r"^\s*10\s*$")).count() >= 1
    alert = page.locator("article.alert-critical_item")
    assert alert.count() == 1
    alert.get_by_label("Note", exact=True).fill("Called Sam; safety plan agreed.")
    alert.get_by_role("button", name=re.compile("Record as acted on")).click()
    page.wait_for_load_state()
    a11y.check(page)
    acted = Alert.objects.get(kind=AlertKind.CRITICAL_ITEM)
    assert acted.acted_by == practice
    assert acted.note == "Called Sam; safety plan agreed."
    staff.close()

    assert len(a11y.pages) >= 18
    assert not a11y.problems, "\n\n".join(a11y.problems)
    assert not policy.blocked, "\n".join(policy.blocked)


def test_the_sign_in_security_pages_in_a_browser(
    browser: Any, practice: Membership, live_server: Any
) -> None:
    """The code step, the members page and the locked page, each checked with axe-core."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    a11y = Accessibility()
    admin_user = User.objects.create_user("ash@riverside.example", PASSWORD, display_name="Ash")
    Membership.objects.create(user=admin_user, organisation=practice.organisation, role="admin")
    device = TOTPDevice.objects.create(user=admin_user, name="Authenticator app", confirmed=True)
    staff = browser.new_context(viewport={"width": 1280, "height": 900})
    page = staff.new_page()

    # Someone guesses Robin's password until the account is locked.
    page.goto(f"{live_server.url}/accounts/login/")
    for attempt in range(5):
        page.get_by_label("Email address").fill(practice.user.email)
        page.get_by_label("Password").fill(f"guess {attempt}")
        _submit(page)
    assert "Your account is locked" in page.content()
    a11y.check(page)

    # The administrator signs in with a code from their app and unlocks Robin.
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email address").fill(admin_user.email)
    page.get_by_label("Password").fill(PASSWORD)
    _submit(page)
    assert page.url.endswith("/accounts/two-factor/")
    a11y.check(page)
    key = b32encode(device.bin_key).decode()
    page.get_by_label("Code", exact=True).fill(_code_of(key))
    _submit(page)
    assert page.url.endswith("/o/riverside/")
    page.locator("header .account-menu summary").click()
    page.get_by_role("link", name="Members").click()
    page.wait_for_load_state()
    assert page.url.endswith("/o/riverside/members/")
    a11y.check(page)
    page.get_by_role("button", name=re.compile("Unlock")).click()
    page.wait_for_load_state()
    assert "can sign in again" in page.content()
    a11y.check(page)
    staff.close()

    assert len(a11y.pages) == 4
    assert not a11y.problems, "\n\n".join(a11y.problems)
