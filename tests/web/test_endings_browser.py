"""A planned ending in Chromium, each page checked with axe-core: the clinician reads the
progress report, ends the episode by plan on its end page (closing summary, follow-up), the
client gets one message and answers the final measure, their goal and the end-of-therapy review
on a 375 px phone through its link, and the clinician reads the end report."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core import mail
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
from test_staff_screens_browser import signed_in

from ally.web.accounts.models import User
from ally.web.actions.answers import do_create_administration, do_record_response
from ally.web.actions.goals import do_add_goal
from ally.web.collect.due import send_due_links
from ally.web.collect.models import AdministrationStatus, Response
from ally.web.endings.models import ClosingSummary, EndingForm, FollowUp, ReviewWords
from ally.web.practice.models import (
    Client,
    ClientIdentity,
    Episode,
    Membership,
    Organisation,
    Session,
)
from ally.web.scoping import Role

__all__ = ["browser", "live_server"]

SUMMARY = "Worked on sleep and worry; the client keeps the evening walks."
HELPED = "Writing my worries down before bed"
LAPTOP = {"width": 1280, "height": 900}


@pytest.fixture
def course(live_server: Any, settings: Any) -> Episode:
    """An episode with three held sessions: PHQ-9 answered at the first two and sent for the
    last, and a goal rated along the way."""
    settings.ALLY_BASE_URL = live_server.url
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # The browser takes the session made by the test client over plain HTTP.
    settings.SESSION_COOKIE_NAME = "sessionid"
    settings.SESSION_COOKIE_SECURE = False
    org = Organisation.objects.create(name="Riverside", slug="riverside")
    user = User.objects.create_user("robin@riverside.example", "pw", display_name="Robin")
    clinician = Membership.objects.create(user=user, organisation=org, role=Role.CLINICIAN)
    client = Client.objects.create(organisation=org, code="R-1")
    ClientIdentity.objects.create(client=client, name="Sam Example", email="sam@example.org")
    episode = Episode.objects.create(
        organisation=org,
        client=client,
        clinician=clinician,
        opened_on=timezone.localdate() - dt.timedelta(days=60),
    )
    do_add_goal(episode, "Sleep through most nights", actor=clinician)
    for number, answers in (
        (1, [3, 3, 2, 3, 2, 2, 2, 1, 0]),
        (2, [2, 2, 1, 2, 1, 1, 1, 1, 0]),
        (3, None),
    ):
        session = Session.objects.create(
            organisation=org,
            episode=episode,
            clinician=clinician,
            number=number,
            scheduled_at=timezone.now() - dt.timedelta(days=7 * (3 - number) + 1),
            status="attended",
        )
        phq9 = do_create_administration(episode, "phq9", session=session, timing="before")
        if answers is not None:
            do_record_response(phq9, answers, idempotency_key=f"phq9-{number}")
            goal = do_create_administration(episode, "goal-progress", session=session)
            do_record_response(goal, {1: 2 + number}, idempotency_key=f"goal-{number}")
    return episode


def test_a_planned_ending_from_the_end_page_to_the_clients_review_and_the_end_report(
    browser: Any, live_server: Any, course: Episode
) -> None:
    a11y, policy = Accessibility(), PolicyWatch()
    org, pk = course.organisation.slug, course.pk
    staff = policy.watch(signed_in(browser, live_server, course.clinician, LAPTOP))

    # The progress report, while the episode runs.
    staff.goto(live_server.url + reverse("clinic:report", kwargs={"org": org, "pk": pk}))
    assert "Progress report" in staff.locator("main").inner_text()
    a11y.check(staff)

    # The end page: a planned ending with a closing summary and a follow-up in 8 weeks.
    staff.goto(live_server.url + reverse("clinic:episode_end", kwargs={"org": org, "pk": pk}))
    a11y.check(staff)
    staff.locator("input[name=reason][value=planned]").check()
    staff.locator("textarea[name=summary]").fill(SUMMARY)
    staff.locator("input[name=follow_up_measures][value=phq9]").check()
    staff.locator("input[name=follow_up_weeks]").fill("8")
    _submit(staff)
    assert staff.url.endswith(reverse("endings:ending", kwargs={"org": org, "pk": pk}))
    a11y.check(staff)
    course.refresh_from_db()
    assert (course.ended_on, course.end_reason) == (timezone.localdate(), "planned")
    assert [s.text for s in ClosingSummary.objects.filter(episode=course)] == [SUMMARY]
    assert FollowUp.objects.get(ending__episode=course).weeks == 8
    sent = EndingForm.objects.filter(ending__episode=course).order_by("administration__pk")
    assert [f.purpose for f in sent] == ["final", "goals", "review"]

    # One message, one link: the final PHQ-9, the goal and the review, on a phone.
    mail.outbox.clear()
    send_due_links()
    [message] = mail.outbox
    link = next(word for word in message.body.split() if "/a/" in word)
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    client = policy.watch(phone.new_page())
    client.goto(link)
    a11y.check(client)
    for item in range(1, 10):
        client.locator(f"input[name=item_{item}][value='{0 if item == 9 else 1}']").check()
    _submit(client)
    a11y.check(client)
    assert "Sleep through most nights" in client.locator("main").inner_text()
    client.locator("input[name=item_1]").fill("8")
    _submit(client)
    assert client.url == f"{live_server.url}/a/review/"
    a11y.check(client)
    assert client.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    client.get_by_label("Better", exact=True).check()
    client.get_by_label("What helped you most?", exact=False).fill(HELPED)
    _submit(client)
    assert client.url.endswith("/a/done/")
    a11y.check(client)
    phone.close()
    review = sent.get(purpose="review").administration
    assert Response.objects.get(administration=review).total == 2
    assert ReviewWords.objects.get(administration=review).words() == {"helped": HELPED}
    assert all(
        f.administration.status == AdministrationStatus.COMPLETED
        for f in EndingForm.objects.filter(ending__episode=course).select_related("administration")
    )

    # The end report: the outcome, the review in the client's words and the closing summary.
    staff.goto(live_server.url + reverse("clinic:report", kwargs={"org": org, "pk": pk}))
    report = staff.locator("main").inner_text()
    assert "End report" in report
    assert HELPED in report
    assert SUMMARY in report
    a11y.check(staff)
    assert a11y.problems == [], "\n".join(a11y.problems)
    assert policy.blocked == []
