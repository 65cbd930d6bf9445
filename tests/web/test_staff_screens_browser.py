"""The staff screens of the demo practice in a real browser (Debian's Chromium): on a phone they
fit the screen, the caseload shows every column, and chart words read at 12 px or more; on a
laptop the administrator's header keeps to one line. Each page is checked with axe-core too.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.conf import settings
from django.db.models import Count, Q
from django.test import Client as Browser
from django.utils import timezone
from signing_in import sign_in

# The journey's browser, live server and accessibility check (fixtures are found by name).
from test_journey import Accessibility, browser, live_server  # noqa: F401

from ally.web.actions.answers import do_create_administration
from ally.web.actions.practice import do_schedule_session
from ally.web.collect.models import Response
from ally.web.demo import load_demo
from ally.web.practice.models import Episode, Membership
from ally.web.scoping import Role

TODAY = dt.date(2026, 11, 29)
PHONE = {"width": 390, "height": 844}
MIN_TEXT_PX = 12


@pytest.fixture
def demo(live_server: Any, settings: Any) -> Episode:  # noqa: F811
    """The demo practice; returns a running episode with a few sessions behind it."""
    # The browser gets a session made here (`signed_in`) by its cookie, which it takes over
    # plain HTTP only without the __Host- prefix and the Secure flag.
    settings.SESSION_COOKIE_NAME = "sessionid"
    settings.SESSION_COOKIE_SECURE = False
    load_demo(episodes=10, seed=1, today=TODAY)
    return (
        Episode.objects.filter(ended_on__isnull=True)
        .annotate(attended=Count("sessions", filter=Q(sessions__status="attended")))
        .filter(attended__gte=3)
        .order_by("-attended", "pk")
        .first()
    )


def signed_in(
    chromium: Any, server: Any, member: Membership, viewport: dict[str, int], lang: str = "en"
) -> Any:
    """A browser page of `member`, signed in as the sign-in page would leave them."""
    session = Browser()
    sign_in(session, member.user)
    context = chromium.new_context(viewport=viewport, extra_http_headers={"Accept-Language": lang})
    cookie = session.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": cookie,
                "url": server.url,
                "httpOnly": True,
            }
        ]
    )
    return context.new_page()


def page_width(page: Any) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


def smallest_chart_words(page: Any) -> float:
    """The smallest word of the page's charts as the reader sees it: its size in the drawing
    times how much the drawing is shrunk to fit the screen."""
    return float(
        page.evaluate(
            """() => {
              let smallest = Infinity;
              for (const svg of document.querySelectorAll('figure svg')) {
                const shrink = svg.getBoundingClientRect().width / svg.width.baseVal.value;
                for (const text of svg.querySelectorAll('text')) {
                  if (!text.textContent.trim()) continue;
                  const px = parseFloat(getComputedStyle(text).fontSize) * shrink;
                  smallest = Math.min(smallest, px);
                }
              }
              return smallest;
            }"""
        )
    )


def test_the_staff_screens_fit_a_phone(browser: Any, live_server: Any, demo: Episode) -> None:  # noqa: F811
    a11y = Accessibility()
    page = signed_in(browser, live_server, demo.clinician, PHONE)

    # The caseload: one card per episode, every column on the screen.
    page.goto(f"{live_server.url}/o/demo/")
    a11y.check(page)
    assert page_width(page) <= PHONE["width"]
    for column in ("Needs attention", "Latest outcome", "Alliance", "Next session"):
        cells = page.locator(f"table.caseload td[data-label='{column}']")
        assert cells.count() >= 1
        for n in range(cells.count()):
            box = cells.nth(n).bounding_box()
            assert box is not None
            assert box["x"] >= 0, column
            assert box["x"] + box["width"] <= PHONE["width"], column
    for column in ("Signal", "Dropout risk"):
        for n in range(page.locator(f"table.caseload td[data-label='{column}']").count()):
            cell = page.locator(f"table.caseload td[data-label='{column}']").nth(n)
            box = cell.bounding_box()
            # An empty cell is left out of the card; any other is on the screen.
            assert box is None or box["x"] + box["width"] <= PHONE["width"], column

    # The client page: no sideways scrolling, and its charts' words legible.
    page.goto(f"{live_server.url}/o/demo/episodes/{demo.pk}/")
    a11y.check(page)
    assert page_width(page) <= PHONE["width"]
    assert page.locator("figure.chart svg").count() >= 2
    assert smallest_chart_words(page) >= MIN_TEXT_PX

    # The supervisor's dashboard too.
    supervisor = Membership.objects.get(organisation=demo.organisation, role=Role.SUPERVISOR)
    page = signed_in(browser, live_server, supervisor, PHONE)
    page.goto(f"{live_server.url}/o/demo/dashboard/?start=2025-11-30&end=2026-11-29")
    a11y.check(page)
    assert page_width(page) <= PHONE["width"]
    assert page.locator("figure.dashboard-chart svg").count() == 1
    assert smallest_chart_words(page) >= MIN_TEXT_PX

    assert not a11y.problems, "\n\n".join(a11y.problems)


@pytest.mark.parametrize("width", [1280, 1024])
def test_an_administrators_header_keeps_to_one_line_on_a_laptop(
    browser: Any,  # noqa: F811
    live_server: Any,  # noqa: F811
    demo: Episode,
    width: int,
) -> None:
    a11y = Accessibility()
    admin = Membership.objects.get(organisation=demo.organisation, role=Role.ADMIN)
    page = signed_in(browser, live_server, admin, {"width": width, "height": 800})
    page.goto(f"{live_server.url}/o/demo/")
    assert page_width(page) <= width
    links = page.locator("header .staff-nav li")
    assert links.count() == 7  # caseload to audit log: an administrator's whole navigation
    tops = {round(links.nth(n).bounding_box()["y"]) for n in range(links.count())}
    assert len(tops) == 1, f"the navigation wraps onto {len(tops)} lines"
    header = page.locator("header.top").bounding_box()
    assert header is not None
    assert header["height"] <= 70

    # The member's own links, the language and signing out are in the account menu.
    assert not page.get_by_role("link", name="Your account").is_visible()
    page.locator("header .account-menu summary").click()
    assert page.get_by_role("link", name="Your account").is_visible()
    assert page.get_by_role("link", name="Members").is_visible()
    assert page.get_by_role("button", name="Sign out").is_visible()
    a11y.check(page)
    page.keyboard.press("Escape")
    assert not page.get_by_role("link", name="Your account").is_visible()

    # German words are longer: the navigation may wrap, but within its own room.
    page = signed_in(browser, live_server, admin, {"width": width, "height": 800}, lang="de")
    page.goto(f"{live_server.url}/o/demo/")
    assert page.locator("html").get_attribute("lang") == "de"
    assert page_width(page) <= width
    nav = page.locator("header .staff-nav").bounding_box()
    menu = page.locator("header .account-menu").bounding_box()
    assert nav is not None
    assert menu is not None
    assert nav["x"] + nav["width"] <= menu["x"]
    a11y.check(page)

    assert not a11y.problems, "\n\n".join(a11y.problems)


def test_paper_answers_and_a_correction_in_the_browser(
    browser: Any,  # noqa: F811
    live_server: Any,  # noqa: F811
    demo: Episode,
) -> None:
    a11y = Accessibility()
    page = signed_in(browser, live_server, demo.clinician, PHONE)
    # The demo's own open forms belong to its fixed day; a session tomorrow has a fresh one.
    tomorrow = timezone.now() + dt.timedelta(days=1)
    session = do_schedule_session(demo, tomorrow, actor=demo.clinician)
    waiting = do_create_administration(
        demo, "phq9", session=session, respondent="client", timing="before"
    )

    # The client's paper, entered on screen: every item answered 1, item 9 included.
    page.goto(f"{live_server.url}/o/demo/forms/{waiting.pk}/paper/")
    a11y.check(page)
    assert page_width(page) <= PHONE["width"]
    for item in range(1, 10):
        page.locator(f"#item_{item}-1").check()
    page.get_by_role("button", name="Save the answers from paper").click()
    assert "The answers from paper are saved" in page.content()
    response = Response.objects.get(administration=waiting)
    assert (response.total, response.entered_by_id) == (9, demo.clinician.pk)

    # Corrected with a reason: the first answers stay, the correction is in force.
    page.goto(f"{live_server.url}/o/demo/forms/{waiting.pk}/correct/")
    a11y.check(page)
    page.locator("#item_1-3").check()
    page.get_by_role("button", name="Save the correction").click()
    assert "a correction needs a reason" in page.content()  # no reason given yet
    a11y.check(page)
    page.locator("#item_1-3").check()
    page.get_by_label("Why are the answers corrected?").fill("Item 1 misread")
    page.get_by_role("button", name="Save the correction").click()
    html = page.content()
    assert "The correction is saved" in html
    assert "Item 1 misread" in html
    a11y.check(page)
    assert Response.objects.get(pk=response.pk).current().total == 11

    assert not a11y.problems, "\n\n".join(a11y.problems)
