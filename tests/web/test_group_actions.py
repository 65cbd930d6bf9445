"""Groups in the practice: leaders, rolling membership, group sessions, the group's plan, and a
leader's alert for a member's rupture at one level of the group check-in."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone
from web_practice import Practice

from ally.web.actions.answers import do_record_response
from ally.web.actions.groups import (
    do_add_group_member,
    do_add_group_planned_measure,
    do_create_group,
    do_end_group_membership,
    do_record_group_attendance,
    do_schedule_group_session,
)
from ally.web.actions.practice import (
    PracticeActionError,
    do_add_planned_measure,
    do_schedule_session,
)
from ally.web.alerts.models import Alert, AlertKind
from ally.web.collect.models import AdministrationStatus
from ally.web.groups.models import MemberSession
from ally.web.practice.models import Attendance, Episode, Group, SessionStatus
from ally.web.scoping import scoped


def at(day: int) -> dt.datetime:
    return timezone.make_aware(dt.datetime(2026, 2, day, 18, 0))


@pytest.fixture
def group(practice: Practice) -> Group:
    p = practice
    group = do_create_group(p.org, "Tuesday group", [p.clinician], actor=p.clinician)
    do_add_group_planned_measure(group, "ally-group", timing="after", actor=p.clinician)
    do_add_group_member(group, p.own, dt.date(2026, 1, 20), actor=p.clinician)
    # The leader does not see a colleague's client until they join: a supervisor adds them.
    with pytest.raises(Http404):
        do_add_group_member(group, p.other, dt.date(2026, 1, 20), actor=p.clinician)
    do_add_group_member(group, p.other, dt.date(2026, 1, 20), actor=p.supervisor)
    return group


def test_a_leader_sees_the_episodes_of_their_groups_members(practice: Practice):
    p = practice
    group = do_create_group(p.org, "Tuesday group", [p.clinician], actor=p.clinician)
    assert p.other not in scoped(Episode, p.clinician)
    do_add_group_member(group, p.other, dt.date(2026, 1, 20), actor=p.supervisor)
    assert p.other in scoped(Episode, p.clinician)
    # A colleague who does not lead the group sees no more than before.
    assert p.own not in scoped(Episode, p.colleague)


def test_only_leaders_or_the_whole_practice_change_a_group(practice: Practice, group: Group):
    with pytest.raises(PermissionDenied):
        do_schedule_group_session(group, at(3), actor=practice.researcher)
    # The colleague sees the group (a client of theirs is in it) but does not lead it.
    with pytest.raises(PermissionDenied):
        do_schedule_group_session(group, at(3), actor=practice.colleague)
    with pytest.raises(Http404):
        do_schedule_group_session(group, at(3), actor=practice.outsider)


def test_a_group_session_gives_each_member_a_session_of_their_own_with_both_plans_forms(
    practice: Practice, group: Group
):
    p = practice
    do_add_planned_measure(p.own, "phq9", respondent="client", timing="before", actor=p.clinician)
    first = do_schedule_group_session(group, at(3), actor=p.clinician)
    # Rolling membership: a member who joins later starts at their own session 1.
    do_add_group_member(group, p.shared, dt.date(2026, 2, 5), actor=p.clinician)
    second = do_schedule_group_session(group, at(10), actor=p.clinician)
    assert (first.number, second.number) == (1, 2)
    parts = {
        (part.group_session.number, part.episode_id): part
        for part in MemberSession.objects.select_related("session", "group_session")
    }
    assert set(parts) == {
        (1, p.own.pk),
        (1, p.other.pk),
        (2, p.own.pk),
        (2, p.other.pk),
        (2, p.shared.pk),
    }
    assert parts[(2, p.shared.pk)].session.number == 1
    assert parts[(2, p.own.pk)].session.number == 2
    own_forms = set(
        parts[(1, p.own.pk)].session.administrations.values_list("measure_id", flat=True)
    )
    assert own_forms == {"phq9", "ally-group"}
    other_forms = set(
        parts[(1, p.other.pk)].session.administrations.values_list("measure_id", flat=True)
    )
    assert other_forms == {"ally-group"}
    # A member who has left takes no part in later sessions.
    place = group.members.get(episode=p.other)
    do_end_group_membership(place, dt.date(2026, 2, 12), actor=p.clinician)
    third = do_schedule_group_session(group, at(17), actor=p.clinician)
    assert set(third.member_sessions.values_list("episode_id", flat=True)) == {
        p.own.pk,
        p.shared.pk,
    }


def test_attendance_is_recorded_once_for_everyone_and_each_members_forms_follow_it(
    practice: Practice, group: Group
):
    p = practice
    session = do_schedule_group_session(group, at(3), actor=p.clinician)
    do_record_group_attendance(session, {p.own.pk: True}, actor=p.clinician)
    statuses = dict(Attendance.objects.filter(session=session).values_list("episode_id", "status"))
    assert statuses == {p.own.pk: SessionStatus.ATTENDED, p.other.pk: SessionStatus.MISSED}
    missed = MemberSession.objects.get(group_session=session, episode=p.other).session
    assert missed.status == SessionStatus.MISSED
    # The after-session check-in of a member who missed it is closed.
    assert missed.administrations.get().status == AdministrationStatus.EXPIRED
    came = MemberSession.objects.get(group_session=session, episode=p.own).session
    assert came.administrations.get().status == AdministrationStatus.CREATED


def _check_in(group: Group, episode: Episode, number: int, members: int, leader: int = 8) -> None:
    part = MemberSession.objects.get(
        group_session__group=group, group_session__number=number, episode=episode
    )
    form = part.session.administrations.get(measure_id="ally-group")
    answers = [leader, leader, members, members, 8, 8, 0]
    do_record_response(
        form,
        answers,
        idempotency_key=f"{episode.pk}-{number}",
        now=part.session.scheduled_at + dt.timedelta(hours=1),
    )


def test_a_fall_at_one_level_alerts_the_leader_once(practice: Practice, group: Group):
    p = practice
    for day, members in ((3, 8), (10, 8), (17, 5)):
        session = do_schedule_group_session(group, at(day), actor=p.clinician)
        do_record_group_attendance(session, {p.own.pk: True, p.other.pk: True}, actor=p.clinician)
        _check_in(group, p.other, session.number, members)
        _check_in(group, p.own, session.number, 8)
    alerts = Alert.objects.filter(kind=AlertKind.RUPTURE)
    (alert,) = alerts
    assert alert.episode_id == p.other.pk
    assert alert.details["subscale"] == "members"
    assert alert.details["group_session"] == 3
    # The leader sees it (the member is the colleague's client); so does their own clinician.
    assert alert in scoped(Alert, p.clinician)
    assert alert in scoped(Alert, p.colleague)


def test_a_fall_at_two_levels_is_one_alert_naming_the_larger_fall(practice: Practice, group: Group):
    p = practice
    for day, members, leader in ((3, 8, 8), (10, 8, 8), (17, 5, 2)):
        session = do_schedule_group_session(group, at(day), actor=p.clinician)
        do_record_group_attendance(session, {p.own.pk: True, p.other.pk: True}, actor=p.clinician)
        _check_in(group, p.other, session.number, members, leader)
        _check_in(group, p.own, session.number, 8)
    (alert,) = Alert.objects.filter(kind=AlertKind.RUPTURE)
    assert alert.details["levels"] == ["leader", "members"]
    assert alert.details["subscale"] == "leader"  # 8 to 2 against 8 to 5
    assert alert.message.startswith(
        "Ally group check-in: the alliance fell at group session 3, most in its “Leader” items."
    )


def test_a_group_needs_a_name_and_a_leader(practice: Practice):
    with pytest.raises(PracticeActionError):
        do_create_group(practice.org, " ", [practice.clinician], actor=practice.clinician)
    with pytest.raises(PracticeActionError):
        do_create_group(practice.org, "G", [], actor=practice.supervisor)
    with pytest.raises(PracticeActionError):
        do_create_group(practice.org, "G", [practice.colleague], actor=practice.clinician)


def test_a_note_is_kept_with_a_check_in_only_and_once(practice: Practice, group: Group):
    from ally.web.actions.groups import do_record_check_in_note
    from ally.web.groups.models import CheckInNote

    p = practice
    session = do_schedule_group_session(group, at(3), actor=p.clinician)
    do_record_group_attendance(session, {p.own.pk: True}, actor=p.clinician)
    part = MemberSession.objects.get(group_session=session, episode=p.own)
    form = part.session.administrations.get(measure_id="ally-group")
    with pytest.raises(PracticeActionError, match="not answered"):
        do_record_check_in_note(form, "Too loud.")
    _check_in(group, p.own, 1, 8)
    form.refresh_from_db()
    assert do_record_check_in_note(form, "   ") is None
    note = do_record_check_in_note(form, " Too loud.\r\nSorry. ")
    assert note is not None
    assert note.text == "Too loud.\nSorry."
    with pytest.raises(PracticeActionError, match="already"):
        do_record_check_in_note(form, "Again.")
    with pytest.raises(PracticeActionError):
        do_record_check_in_note(form, "x" * 2001)
    assert CheckInNote.objects.count() == 1


def test_erasing_a_member_takes_their_part_in_the_group_and_leaves_the_group(
    practice: Practice, group: Group
):
    from ally.web.actions.groups import do_record_check_in_note
    from ally.web.actions.privacy import do_erase_client
    from ally.web.groups.models import CheckInNote

    p = practice
    session = do_schedule_group_session(group, at(3), actor=p.clinician)
    do_record_group_attendance(session, {p.own.pk: True, p.other.pk: True}, actor=p.clinician)
    _check_in(group, p.own, 1, 8)
    form = MemberSession.objects.get(group_session=session, episode=p.own).session.administrations
    do_record_check_in_note(form.get(measure_id="ally-group"), "Too loud.")
    do_erase_client(p.own.client, actor=p.admin)
    assert not MemberSession.objects.filter(episode_id=p.own.pk).exists()
    assert not Attendance.objects.filter(episode_id=p.own.pk).exists()
    assert not CheckInNote.objects.exists()
    assert group.members.count() == 1
    assert session.member_sessions.count() == 1


def test_a_members_data_export_holds_their_groups_and_their_notes(practice: Practice, group: Group):
    from ally.web.actions.groups import do_record_check_in_note
    from ally.web.privacy.export import client_data

    p = practice
    session = do_schedule_group_session(group, at(3), actor=p.clinician)
    do_record_group_attendance(session, {p.own.pk: True}, actor=p.clinician)
    _check_in(group, p.own, 1, 8)
    form = MemberSession.objects.get(group_session=session, episode=p.own).session.administrations
    do_record_check_in_note(form.get(measure_id="ally-group"), "Too loud.")
    (episode,) = client_data(p.own.client, None)["episodes"]
    assert episode["groups"] == [
        {"group": "Tuesday group", "joined_on": "2026-01-20", "left_on": None}
    ]
    notes = [q["note"]["text"] for q in episode["questionnaires"] if "note" in q]
    assert notes == ["Too loud."]


def test_joining_and_leaving_reach_the_sessions_already_scheduled(practice: Practice, group: Group):
    p = practice
    held = do_schedule_group_session(group, at(3), actor=p.clinician)
    do_record_group_attendance(held, {p.own.pk: True, p.other.pk: True}, actor=p.clinician)
    coming = do_schedule_group_session(group, at(17), actor=p.clinician)
    do_add_group_member(group, p.shared, dt.date(2026, 2, 10), actor=p.clinician)
    # The new member takes part in the session to come, not in the one held before they joined.
    assert set(coming.member_sessions.values_list("episode_id", flat=True)) == {
        p.own.pk,
        p.other.pk,
        p.shared.pk,
    }
    assert not held.member_sessions.filter(episode=p.shared).exists()
    joined = coming.member_sessions.get(episode=p.shared).session
    assert set(joined.administrations.values_list("measure_id", flat=True)) == {"ally-group"}
    # A member who leaves before it: their part in it is cancelled and its forms closed.
    do_end_group_membership(
        group.members.get(episode=p.other), dt.date(2026, 2, 12), actor=p.clinician
    )
    left = coming.member_sessions.get(episode=p.other).session
    assert left.status == SessionStatus.CANCELLED
    assert left.administrations.get().status == AdministrationStatus.EXPIRED
    assert held.member_sessions.get(episode=p.other).session.status == SessionStatus.ATTENDED


def test_sessions_are_numbered_in_the_order_they_happen(practice: Practice, group: Group):
    """A session booked before others still to come takes its place among them, and they move
    up by one, the group's and each member's own; before one that has taken place, a session
    is refused with what to do, since its number would put the scores out of order."""
    p = practice
    do_add_planned_measure(p.own, "phq9", respondent="client", timing="before", actor=p.clinician)
    later = do_schedule_group_session(group, at(17), actor=p.clinician)
    own_later = later.member_sessions.get(episode=p.own).session
    earlier = do_schedule_group_session(group, at(10), actor=p.clinician)
    later.refresh_from_db()
    own_later.refresh_from_db()
    assert (earlier.number, later.number) == (1, 2)
    own_earlier = earlier.member_sessions.get(episode=p.own).session
    assert (own_earlier.number, own_later.number) == (1, 2)
    # Each keeps one open form of its plan's measure; the moved one's plan entry still applies.
    assert own_later.administrations.filter(measure_id="phq9").count() == 1
    do_record_group_attendance(earlier, {p.own.pk: True, p.other.pk: True}, actor=p.clinician)
    with pytest.raises(PracticeActionError, match=r"Session 1, on .* has already taken place"):
        do_schedule_session(p.own, at(3), actor=p.clinician)
