"""The group page: what a leader sees, and what everyone else does not."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone
from web_practice import Practice, episode_for, sign_in

from ally.web.actions.answers import do_record_response
from ally.web.actions.groups import (
    do_add_group_member,
    do_add_group_planned_measure,
    do_create_group,
    do_record_group_attendance,
    do_schedule_group_session,
)
from ally.web.groups.models import MemberSession
from ally.web.practice.models import Group


def _as(member) -> Browser:
    browser = Browser()
    sign_in(browser, member.user)
    return browser


def at(day: int) -> dt.datetime:
    return timezone.make_aware(dt.datetime(2026, 2, day, 18, 0))


@pytest.fixture
def group(practice: Practice) -> Group:
    """Three members: two of the leader's caseload and one of a colleague's; the colleague's
    client stops answering at the third session and the second member's rating of the other
    members falls there."""
    p = practice
    third = episode_for(p.clinician, "N-010")
    group = do_create_group(p.org, "Tuesday group", [p.clinician], actor=p.clinician)
    do_add_group_planned_measure(group, "ally-group", timing="after", actor=p.clinician)
    for episode in (p.own, third):
        do_add_group_member(group, episode, dt.date(2026, 1, 20), actor=p.clinician)
    do_add_group_member(group, p.other, dt.date(2026, 1, 20), actor=p.supervisor)
    ratings = {p.own.pk: (8, 8, 8), third.pk: (8, 8, 4), p.other.pk: (7, 7, None)}
    for number, day in enumerate((3, 10, 17)):
        session = do_schedule_group_session(group, at(day), actor=p.clinician)
        everyone = dict.fromkeys(ratings, True)
        do_record_group_attendance(session, everyone, actor=p.clinician)
        for episode_id, values in ratings.items():
            if values[number] is None:
                continue
            part = MemberSession.objects.get(group_session=session, episode_id=episode_id)
            form = part.session.administrations.get(measure_id="ally-group")
            m = values[number]
            do_record_response(
                form,
                [8, 8, m, m, 8, 8, 0],
                idempotency_key=f"{episode_id}-{number}",
                now=session.scheduled_at + dt.timedelta(hours=1),
            )
    return group


def test_the_leader_sees_means_with_n_each_member_by_session_and_the_rupture(
    practice: Practice, group: Group
):
    page = _as(practice.clinician).get(
        reverse("groups:group", kwargs={"org": "north", "pk": group.pk})
    )
    text = page.content.decode()
    assert page.status_code == 200
    assert "n=3" in text
    assert "n=2" in text  # the leader sees a session's means even with two answers
    assert "N-010" in text
    assert "N-003" in text  # the colleague's client, a member of the group
    assert text.count("<strong>rupture</strong>") == 1
    assert "<svg" in text


def test_anyone_else_sees_means_only_and_none_below_three_answers(practice: Practice, group: Group):
    for member in (practice.colleague, practice.researcher):
        page = _as(member).get(reverse("groups:group", kwargs={"org": "north", "pk": group.pk}))
        text = page.content.decode()
        assert page.status_code == 200
        assert "n=3" in text
        assert "n=2" not in text
        assert "withheld" in text
        assert "N-010" not in text
        assert "rupture</strong>" not in text
    # A group session's members and forms are for those who run the group.
    session = group.sessions.get(number=1)
    url = reverse("groups:session", kwargs={"org": "north", "pk": session.pk})
    assert _as(practice.colleague).get(url).status_code == 403
    assert _as(practice.clinician).get(url).status_code == 200


def test_a_leader_runs_a_group_from_its_pages(practice: Practice):
    p = practice
    browser = _as(p.clinician)
    created = browser.post(
        reverse("groups:new", kwargs={"org": "north"}),
        {"label": "Thursday group", "leaders": [p.clinician.pk]},
    )
    group = Group.objects.get(label="Thursday group")
    assert created.status_code == 302
    base = {"org": "north", "pk": group.pk}
    browser.post(
        reverse("groups:schedule", kwargs=base),
        {"weekday": 3, "starts_at": "18:00", "minutes": 90, "every_weeks": 1},
    )
    browser.post(
        reverse("groups:plan_add", kwargs=base),
        {"measure": "ally-group", "timing": "after", "first_session": 1, "every": 1},
    )
    browser.post(
        reverse("groups:member_add", kwargs=base), {"episode": p.own.pk, "joined_on": "2026-01-20"}
    )
    scheduled = browser.post(
        reverse("groups:session_new", kwargs=base),
        {"scheduled_at": "2026-02-05T18:00", "leader": p.clinician.pk},
    )
    session = group.sessions.get()
    assert scheduled["Location"].endswith(f"/groups/sessions/{session.pk}/")
    page = browser.get(scheduled["Location"])
    assert "Ally group check-in" in page.content.decode()
    browser.post(scheduled["Location"], {f"came_{p.own.pk}": "on"})
    part = MemberSession.objects.get(group_session=session)
    assert part.session.status == "attended"
    assert "Thursday" in browser.get(reverse("groups:group", kwargs=base)).content.decode()


def test_the_leader_sees_who_drifts_from_the_group_and_who_is_off_track(practice: Practice):
    from ally.web.actions.practice import do_add_planned_measure

    p = practice
    third = episode_for(p.clinician, "N-011")
    group = do_create_group(p.org, "Monday group", [p.clinician], actor=p.clinician)
    do_add_group_planned_measure(group, "ally-group", timing="after", actor=p.clinician)
    do_add_planned_measure(p.own, "phq9", respondent="client", timing="before", actor=p.clinician)
    for episode in (p.own, p.shared, third):
        do_add_group_member(group, episode, dt.date(2026, 1, 20), actor=p.clinician)
    # N-011's sense of belonging falls while the others' holds; N-001's PHQ-9 worsens by 11.
    belonging = {p.own.pk: [7, 7, 7, 7], p.shared.pk: [6, 6, 6, 6], third.pk: [8, 8, 8, 3]}
    phq9 = [[2, 2, 2, 2, 2, 1, 1, 1, 0], [3, 3, 3, 3, 3, 3, 3, 3, 0]]
    for number, day in enumerate((2, 9, 16, 23)):
        session = do_schedule_group_session(group, at(day), actor=p.clinician)
        do_record_group_attendance(session, dict.fromkeys(belonging, True), actor=p.clinician)
        for episode_id, values in belonging.items():
            part = MemberSession.objects.get(group_session=session, episode_id=episode_id)
            when = session.scheduled_at + dt.timedelta(hours=1)
            forms = part.session.administrations
            g = values[number]
            do_record_response(
                forms.get(measure_id="ally-group"),
                [7, 7, 7, 7, g, g, 0],
                idempotency_key=f"g-{episode_id}-{number}",
                now=when,
            )
            if episode_id == p.own.pk and number < 2:
                do_record_response(
                    forms.get(measure_id="phq9"),
                    phq9[number],
                    idempotency_key=f"phq-{number}",
                    now=session.scheduled_at,
                )
    text = (
        _as(p.clinician)
        .get(reverse("groups:group", kwargs={"org": "north", "pk": group.pk}))
        .content.decode()
    )
    drift = text.split("Drifting away from a group that holds")[1].split("</ul>")[0]
    assert "N-011" in drift
    assert "N-001" not in drift
    # 3 - 6.5 now against 8 - 6.5 before: a fall of 5 points, said as a fall, not as "-5.0".
    assert "fell 5.0 points" in drift
    off_track = text.split("Off track on their own outcome measures")[1].split("</ul>")[0]
    assert "N-001" in off_track
    assert "N-011" not in off_track


def test_the_group_page_speaks_german(practice: Practice, group: Group):
    browser = _as(practice.clinician)
    page = browser.get(
        reverse("groups:group", kwargs={"org": "north", "pk": group.pk}),
        headers={"Accept-Language": "de"},
    )
    text = page.content.decode()
    assert page.status_code == 200
    assert "Die Ebenen der Gruppe" in text
    assert "Mitglieder nach Sitzung" in text
    assert "Bruch" in text


def test_the_roster_says_when_a_members_episode_ended(practice: Practice, group: Group):
    from ally.web.actions.practice import do_end_episode

    do_end_episode(practice.other, dt.date(2026, 2, 20), "dropout", actor=practice.colleague)
    text = (
        _as(practice.clinician)
        .get(reverse("groups:group", kwargs={"org": "north", "pk": group.pk}))
        .content.decode()
    )
    roster = text.split('id="roster-heading"')[1]
    assert "episode ended" in roster.split("N-003")[1].split("</tr>")[0]
