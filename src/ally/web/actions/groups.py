"""The write path for groups: creating them, their schedule, membership, plan and sessions.

A group session is one practice `Session` of the group with, for each member taking part, a
session of the member's own episode (`MemberSession`), scheduled through `do_schedule_session`
so the member's own plan gives its forms; the group's plan adds its own. Attendance is recorded
once for everyone, through `do_record_session_status` for each member's session.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from ally.web import audit
from ally.web.actions.practice import (
    PracticeActionError,
    _may_hold_episodes,
    check_can_write,
    checked_plan_entry,
    do_record_session_status,
    do_schedule_session,
    number_in_date_order,
)
from ally.web.apiclients.models import ApiClient
from ally.web.collect.models import Administration, Respondent
from ally.web.groups.levels import check_in_measures
from ally.web.groups.models import CheckInNote, GroupPlannedMeasure, GroupSchedule, MemberSession
from ally.web.groups.planning import group_forms_for
from ally.web.practice.models import (
    Attendance,
    Episode,
    Group,
    GroupMember,
    Membership,
    Organisation,
    Session,
    SessionStatus,
)
from ally.web.scoping import Capability, can, check_can, get_scoped_or_404
from ally.web.text import NOTE, NOTE_MAX_LENGTH, TextRefusedError, clean


def leads(member: Membership | ApiClient, group: Group) -> bool:
    """Whether the member is one of the group's leaders (an API client never is)."""
    if not isinstance(member, Membership):
        return False
    return group.leaders.filter(pk=member.pk).exists()


def check_can_lead(actor: Membership, group: Group) -> Group:
    """Refuse (404) a group the actor cannot see, and (403) a writer who neither leads it nor
    runs the whole practice; returns the group as the actor sees it."""
    found: Group = get_scoped_or_404(Group, actor, pk=group.pk)
    check_can(actor, Capability.RECORD_CLINICAL_DATA)
    if not can(actor, Capability.SEE_WHOLE_PRACTICE) and not leads(actor, found):
        raise PermissionDenied(_("Only the group's leaders can change the group."))
    return found


def do_create_group(
    organisation: Organisation, label: str, leaders: Sequence[Membership], *, actor: Membership
) -> Group:
    """A new group with its leaders (at least one); a clinician who creates one leads it."""
    check_can_write(actor, organisation)
    label = label.strip()
    if not label:
        raise PracticeActionError(_("Give the group a name."), field="label")
    if not leaders:
        raise PracticeActionError(_("Choose at least one leader."), field="leaders")
    for leader in leaders:
        _may_hold_episodes(leader, organisation)
    if not can(actor, Capability.SEE_WHOLE_PRACTICE) and actor not in leaders:
        raise PracticeActionError(
            _("Lead the group yourself, or ask a supervisor to create it."), field="leaders"
        )
    with transaction.atomic():
        group = Group.objects.create(organisation=organisation, label=label)
        group.leaders.set(leaders)
        audit.record("group.created", actor=actor, target=group)
    return group


def do_set_group_schedule(
    group: Group,
    *,
    weekday: int,
    starts_at: dt.time,
    minutes: int = 90,
    every_weeks: int = 1,
    actor: Membership,
) -> GroupSchedule:
    """When the group meets (replacing what was set before)."""
    group = check_can_lead(actor, group)
    if not 0 <= weekday <= 6:
        raise PracticeActionError(_("Choose a day of the week."), field="weekday")
    if minutes < 1 or every_weeks < 1:
        raise PracticeActionError(_("A session lasts at least a minute, every week or more."))
    with transaction.atomic():
        schedule, _created = GroupSchedule.objects.update_or_create(
            group=group,
            defaults={
                "weekday": weekday,
                "starts_at": starts_at,
                "minutes": minutes,
                "every_weeks": every_weeks,
            },
        )
        audit.record("group.schedule_set", actor=actor, target=schedule)
    return schedule


def next_on_schedule(group: Group, after: dt.datetime) -> dt.datetime | None:
    """The group's next meeting after `after` by its schedule (None without a schedule)."""
    schedule = GroupSchedule.objects.filter(group=group).first()
    if schedule is None:
        return None
    local = timezone.localtime(after)
    days = (schedule.weekday - local.weekday()) % 7
    day = local.date() + dt.timedelta(days=days)
    when = timezone.make_aware(dt.datetime.combine(day, schedule.starts_at))
    if when <= after:
        when = timezone.make_aware(
            dt.datetime.combine(day + dt.timedelta(weeks=1), schedule.starts_at)
        )
    last = group.sessions.order_by("-scheduled_at").values_list("scheduled_at", flat=True).first()
    while (
        last is not None
        and schedule.every_weeks > 1
        and when - last < dt.timedelta(weeks=schedule.every_weeks, hours=-12)
    ):
        when += dt.timedelta(weeks=1)
    return when


def do_add_group_member(
    group: Group, episode: Episode, joined_on: dt.date, *, actor: Membership
) -> GroupMember:
    """The client of `episode` joins the group on `joined_on`, keeping their own episode."""
    group = check_can_lead(actor, group)
    episode = get_scoped_or_404(Episode, actor, pk=episode.pk)
    if episode.ended_on is not None:
        raise PracticeActionError(_("This episode has ended; open a new one first."))
    if joined_on < episode.opened_on:
        raise PracticeActionError(
            _("The joining date is before the episode was opened; check it."), field="joined_on"
        )
    try:
        with transaction.atomic():
            place = GroupMember.objects.create(group=group, episode=episode, joined_on=joined_on)
            audit.record("group.member_joined", actor=actor, target=place)
            # The sessions already scheduled from the joining day include the new member.
            for session in _upcoming(group, joined_on):
                _take_part(session, episode, actor)
    except IntegrityError:
        raise PracticeActionError(
            _("This client has been a member of the group in this episode already."),
            field="episode",
        ) from None
    return place


def do_end_group_membership(
    place: GroupMember, left_on: dt.date, *, actor: Membership
) -> GroupMember:
    """The member leaves the group on `left_on`; their answers so far stay in the group's view."""
    check_can_lead(actor, place.group)
    if left_on < place.joined_on:
        raise PracticeActionError(
            _("The leaving date is before the member joined; check it."), field="left_on"
        )
    with transaction.atomic():
        locked = GroupMember.objects.select_for_update().get(pk=place.pk)
        if locked.left_on is not None:
            raise PracticeActionError(_("This member has left the group already."))
        locked.left_on = left_on
        locked.save(update_fields=["left_on"])
        audit.record("group.member_left", actor=actor, target=locked)
        # Scheduled sessions after the leaving day are no longer the member's: cancelled, so
        # their forms close.
        after = [
            s
            for s in _upcoming(locked.group, left_on)
            if timezone.localdate(s.scheduled_at) > left_on
        ]
        for part in MemberSession.objects.filter(
            group_session__in=after, episode=locked.episode
        ).select_related("session"):
            do_record_session_status(part.session, str(SessionStatus.CANCELLED), actor=actor)
    return locked


def do_add_group_planned_measure(
    group: Group,
    measure_id: str,
    *,
    timing: str,
    respondent: str = str(Respondent.CLIENT),
    first_session: int = 1,
    every: int = 1,
    last_session: int | None = None,
    actor: Membership,
) -> GroupPlannedMeasure:
    """A measure every member answers at the group's sessions (numbered within the group)."""
    group = check_can_lead(actor, group)
    measure_id = checked_plan_entry(
        measure_id, respondent, timing, first_session, every, last_session
    )
    try:
        with transaction.atomic():
            entry = GroupPlannedMeasure.objects.create(
                group=group,
                measure_id=measure_id,
                respondent=respondent,
                timing=timing,
                first_session=first_session,
                every=every,
                last_session=last_session,
            )
            audit.record("group.plan_measure_added", actor=actor, target=entry)
    except IntegrityError:
        raise PracticeActionError(
            _("The group's plan has this measure for this respondent and timing already.")
        ) from None
    return entry


def members_on(group: Group, day: dt.date) -> list[GroupMember]:
    """The group's members on `day`: joined by then, not yet left, their episode open."""
    return list(
        group.members.select_related("episode")
        .filter(joined_on__lte=day, episode__ended_on__isnull=True)
        .filter(Q(left_on__isnull=True) | Q(left_on__gte=day))
        .order_by("pk")
    )


def do_schedule_group_session(
    group: Group,
    scheduled_at: dt.datetime,
    *,
    actor: Membership,
    leader: Membership | None = None,
) -> Session:
    """The group's next session (numbered within the group), with a session of their own for
    each member on that day, and each member's forms from their plan and the group's."""
    group = check_can_lead(actor, group)
    leader = leader or group.leaders.order_by("pk").first()
    if leader is None:
        raise PracticeActionError(_("Give the group a leader first."))
    _may_hold_episodes(leader, group.organisation)
    day = timezone.localdate(scheduled_at)
    with transaction.atomic():
        # The group's row lock makes two schedulings take turns, so numbers never clash.
        locked = Group.objects.select_for_update().get(pk=group.pk)
        number = number_in_date_order(locked.sessions.all(), scheduled_at)
        session = Session.objects.create(
            organisation=locked.organisation,
            group=locked,
            clinician=leader,
            number=number,
            scheduled_at=scheduled_at,
        )
        audit.record("group.session_scheduled", actor=actor, target=session)
        for place in members_on(locked, day):
            _take_part(session, place.episode, actor)
    return session


def _take_part(session: Session, episode: Episode, actor: Membership) -> MemberSession:
    """The member's own session beside a group session, with the forms of both plans."""
    assert session.clinician is not None
    own = do_schedule_session(
        episode, session.scheduled_at, actor=actor, clinician=session.clinician
    )
    part = MemberSession.objects.create(group_session=session, session=own, episode=episode)
    group_forms_for(part, actor)
    return part


def _upcoming(group: Group, day: dt.date) -> list[Session]:
    """The group's sessions still to be held (scheduled) on or after `day`, in order."""
    sessions = group.sessions.filter(status=SessionStatus.SCHEDULED).order_by("scheduled_at")
    return [s for s in sessions if timezone.localdate(s.scheduled_at) >= day]


def do_record_group_attendance(
    session: Session,
    attended: Mapping[int, bool],
    *,
    cancelled: bool = False,
    actor: Membership,
) -> Session:
    """Record once for everyone who came to a group session (by episode id; a member left out
    counts as missed), or that the session was cancelled. Each member's own session takes the
    same status through `do_record_session_status`: their forms follow it."""
    if session.group_id is None:
        raise PracticeActionError(_("This is not a group session."))
    check_can_lead(actor, session.group)
    with transaction.atomic():
        locked = Session.objects.select_for_update().get(pk=session.pk)
        status = SessionStatus.CANCELLED if cancelled else SessionStatus.ATTENDED
        if locked.status != status:
            locked.status = status
            locked.status_changed_at = timezone.now()
            locked.save(update_fields=["status", "status_changed_at"])
        parts = list(locked.member_sessions.select_related("session", "episode"))
        for part in parts:
            present = attended.get(part.episode_id)
            own = SessionStatus.ATTENDED if present else SessionStatus.MISSED
            if cancelled:
                own = SessionStatus.CANCELLED
            Attendance.objects.update_or_create(
                session=locked, episode=part.episode, defaults={"status": own}
            )
            part.session = do_record_session_status(part.session, str(own), actor=actor)
            group_forms_for(part, actor)
        audit.record("group.attendance", actor=actor, target=locked)
    return locked


def note_of(text: str) -> str:
    """A check-in note as stored: checked and normalised like every note, or PracticeActionError
    saying what to change."""
    try:
        cleaned = clean(text, NOTE)
    except TextRefusedError as exc:
        raise PracticeActionError(str(exc), field="note") from None
    if len(cleaned) > NOTE_MAX_LENGTH:
        raise PracticeActionError(
            _("Keep it under %(count)s characters.") % {"count": NOTE_MAX_LENGTH}, field="note"
        )
    return cleaned


def do_record_check_in_note(
    administration: Administration, text: str, *, now: dt.datetime | None = None
) -> CheckInNote | None:
    """Keep what the member wrote with their answered group check-in (by their link: no actor).
    Nothing is kept for empty text; a second note for the same check-in is refused."""
    text = note_of(text)
    if not text:
        return None
    if administration.measure_id not in check_in_measures():
        raise PracticeActionError(_("Only the group check-in takes a note."))
    if administration.status != "completed":
        raise PracticeActionError(_("The check-in is not answered yet."))
    try:
        with transaction.atomic():
            note = CheckInNote(administration=administration, written_at=now or timezone.now())
            note.seal_words({"text": text})
            note.save()
            audit.record("group.check_in_note", actor=None, target=note)
    except IntegrityError:
        raise PracticeActionError(_("A note was kept with this check-in already.")) from None
    return note
