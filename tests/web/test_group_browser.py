"""A group in a real browser (Debian's Chromium), each page checked with axe-core: the leader
schedules the group's third session and records who came; the members answer the group check-in
by their links on a phone; the leader's group page shows the levels with their n and one
member's rupture."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.utils import timezone
from test_journey import Accessibility, browser, live_server  # noqa: F401
from test_staff_screens_browser import page_width, signed_in

from ally.web.accounts.models import User
from ally.web.actions.answers import do_record_response
from ally.web.actions.groups import (
    do_add_group_member,
    do_add_group_planned_measure,
    do_create_group,
    do_record_group_attendance,
    do_schedule_group_session,
)
from ally.web.alerts.models import Alert, AlertKind
from ally.web.groups.models import MemberSession
from ally.web.practice.models import (
    Client,
    ClientIdentity,
    Episode,
    Group,
    Membership,
    Organisation,
)
from ally.web.scoping import Role

PHONE = {"width": 375, "height": 740}
CODES = ("G-001", "G-002", "G-003")


@pytest.fixture
def leader(live_server: Any, settings: Any) -> Membership:  # noqa: F811
    settings.SESSION_COOKIE_NAME = "sessionid"
    settings.SESSION_COOKIE_SECURE = False
    settings.ALLY_BASE_URL = live_server.url
    org = Organisation.objects.create(name="Riverside", slug="riverside")
    user = User.objects.create_user("robin@riverside.example", "pw", display_name="Robin")
    return Membership.objects.create(user=user, organisation=org, role=Role.CLINICIAN)


@pytest.fixture
def group(leader: Membership) -> Group:
    """A group with two sessions behind it, every member rating every level 8."""
    org = leader.organisation
    group = do_create_group(org, "Thursday group", [leader], actor=leader)
    do_add_group_planned_measure(group, "ally-group", timing="after", actor=leader)
    start = timezone.now() - dt.timedelta(days=15)
    for code in CODES:
        client = Client.objects.create(organisation=org, code=code)
        ClientIdentity.objects.create(client=client, name=f"Name of {code}")
        episode = Episode.objects.create(
            organisation=org, client=client, clinician=leader, opened_on=start.date()
        )
        do_add_group_member(group, episode, start.date(), actor=leader)
    for week in (0, 1):
        session = do_schedule_group_session(group, start + dt.timedelta(weeks=week), actor=leader)
        parts = list(MemberSession.objects.filter(group_session=session))
        do_record_group_attendance(session, {p.episode_id: True for p in parts}, actor=leader)
        for part in parts:
            form = part.session.administrations.get(measure_id="ally-group")
            do_record_response(
                form,
                [8, 8, 8, 8, 8, 8, 0],
                idempotency_key=f"{part.pk}",
                now=session.scheduled_at + dt.timedelta(hours=1),
            )
    return group


def test_a_leader_runs_a_group_session_and_members_answer_on_a_phone(
    browser: Any,  # noqa: F811
    live_server: Any,  # noqa: F811
    leader: Membership,
    group: Group,
) -> None:
    a11y = Accessibility()
    page = signed_in(browser, live_server, leader, {"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/o/riverside/")
    page.get_by_role("link", name="Groups", exact=True).click()
    page.wait_for_load_state()
    a11y.check(page)
    page.get_by_role("link", name="Thursday group").click()
    page.wait_for_load_state()
    a11y.check(page)

    # The third session began a few minutes ago: its check-ins take answers now.
    started = timezone.localtime() - dt.timedelta(minutes=5)
    page.get_by_label("Date and time").fill(started.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Schedule the group session").click()
    page.wait_for_load_state()
    assert re.search(r"/groups/sessions/\d+/$", page.url)
    a11y.check(page)
    session_url = page.url
    for code in CODES:
        page.get_by_label(code, exact=True).check()
    page.get_by_role("button", name="Record attendance for everyone").click()
    page.wait_for_load_state()
    a11y.check(page)

    # Each member's link, from their form's page; G-003's rating of the other members falls.
    links = {}
    for code in CODES:
        page.goto(session_url)
        page.locator("li", has_text=code).get_by_role("link", name="Ally group check-in").click()
        page.wait_for_load_state()
        links[code] = page.locator("#client-link").input_value()
    a11y.check(page)
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    for code, link in links.items():
        member = phone.new_page()
        member.goto(link)
        assert member.url == f"{live_server.url}/a/"
        a11y.check(member)
        assert page_width(member) <= PHONE["width"]
        others = "3" if code == "G-003" else "8"
        for item, value in enumerate(["8", "8", others, others, "8", "8"], start=1):
            member.locator(f"input[name=item_{item}]").fill(value)
        harder = code == "G-003"
        member.locator(f"input[name=item_7][value='{int(harder)}']").check()
        if harder:
            # The optional note: only the leaders read it.
            member.get_by_label(re.compile("what made it harder")).fill(
                "Two people talked over me."
            )
        member.locator("main form button[type=submit]").first.click()
        member.wait_for_load_state()
        assert member.url.endswith("/a/done/")
        a11y.check(member)
        member.close()
    phone.close()

    # The group page: the third session's means rest on three answers; G-003's rupture shows.
    page.goto(f"{live_server.url}/o/riverside/groups/{group.pk}/")
    a11y.check(page)
    means = page.locator("table.group-means")
    assert means.locator("tr", has_text=re.compile(r"^\s*3")).locator("td").first.inner_text()
    assert "n=3" in means.inner_text()
    grid = page.locator("table.group-grid")
    assert grid.locator("tr", has_text="G-003").locator("strong", has_text="rupture").count() == 1
    assert page.locator("figure.chart svg").count() == 1
    assert grid.locator("tr", has_text="G-003").locator(".note-text").inner_text() == (
        "Two people talked over me."
    )
    alert = Alert.objects.get(kind=AlertKind.RUPTURE)
    assert alert.details["subscale"] == "members"

    assert len(a11y.pages) >= 10
    assert not a11y.problems, "\n\n".join(a11y.problems)
