"""The client's goals on a phone-sized screen in Chromium, checked with axe-core: the link of a
goal-progress form opens on "Your goals", the client writes a goal, answers the ideal-life
questions, makes one answer a second goal, and rates both."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.urls import reverse
from django.utils import timezone
from test_journey import (  # the journey's browser, server and accessibility check
    PHONE,
    Accessibility,
    PolicyWatch,
    _submit,
    browser,
    live_server,
)

from ally.web.accounts.models import User
from ally.web.actions.answers import do_create_administration
from ally.web.collect.models import Response
from ally.web.goals.models import Goal
from ally.web.practice.models import Client, Episode, Membership, Organisation, Session
from ally.web.respond.links import signed_token
from ally.web.scoping import Role

__all__ = ["browser", "live_server"]


def test_the_client_sets_and_rates_goals_on_a_phone(browser: Any, live_server: Any) -> None:
    org = Organisation.objects.create(name="Riverside", slug="riverside")
    user = User.objects.create_user("robin@riverside.example", "pw", display_name="Robin")
    clinician = Membership.objects.create(user=user, organisation=org, role=Role.CLINICIAN)
    client_row = Client.objects.create(organisation=org, code="R-1")
    episode = Episode.objects.create(
        organisation=org, client=client_row, clinician=clinician, opened_on=dt.date(2026, 1, 5)
    )
    session = Session.objects.create(
        organisation=org,
        episode=episode,
        number=1,
        scheduled_at=timezone.now() - dt.timedelta(hours=1),
    )
    form = do_create_administration(episode, "goal-progress", session=session)
    link = live_server.url + reverse("respond:open", kwargs={"signed": signed_token(form)})

    a11y, policy = Accessibility(), PolicyWatch()
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = policy.watch(phone.new_page())
    page.goto(link)
    # No goal yet: the form sends the client to write their goals first.
    assert page.url == f"{live_server.url}/a/goals/"
    a11y.check(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.get_by_label("Your goal, in your own words").fill("Feel calmer at work")
    page.get_by_role("button", name="Save this goal").click()
    page.wait_for_load_state()
    a11y.check(page)
    page.get_by_role("link", name="Not sure yet?", exact=False).click()
    page.wait_for_load_state()
    a11y.check(page)
    page.get_by_label("What would be different?", exact=False).fill("Sunday walks with friends")
    page.get_by_label("Where are you now", exact=False).fill("3")
    _submit(page)
    assert page.url == f"{live_server.url}/a/goals/"
    page.get_by_role("button", name="Make this a goal").first.click()
    page.wait_for_load_state()
    a11y.check(page)
    assert Goal.objects.filter(episode=episode).count() == 2
    page.get_by_role("link", name="Go on to the questions").click()
    page.wait_for_load_state()
    a11y.check(page)
    assert "Sunday walks with friends" in page.locator("main").inner_text()
    page.locator("input[name=item_1]").fill("4")
    page.locator("input[name=item_2]").fill("2")
    _submit(page)
    assert page.url.endswith("/a/done/")
    a11y.check(page)
    assert Response.objects.get(administration=form).answers["2"] == 2
    phone.close()
    assert a11y.problems == [], "\n".join(a11y.problems)
    assert policy.blocked == []
