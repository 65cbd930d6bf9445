"""The write path for the practice: clients, episodes, care teams, sessions and measurement plans.

Every form, API and import changes these rows through a `do_*` function here (as answers go
through `collect/actions.py`): each checks that the member may write, changes the database in one
transaction and calls the audit hook inside it. Refusals raise `PracticeActionError` with a
message for the person at the form; nothing is half-stored.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.http import Http404
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from ally.web import audit
from ally.web.collect import measures
from ally.web.collect.models import MeasurementPlan, PlannedMeasure, Respondent, Timing
from ally.web.monitoring.refresh import refresh_episode
from ally.web.practice.models import (
    CareTeamMember,
    Client,
    ClientIdentity,
    EndReason,
    Episode,
    Membership,
    Organisation,
    Session,
    SessionStatus,
    TeamRole,
)
from ally.web.practice.models.clients import LONGEST
from ally.web.scoping import RECORDS_CLINICAL_DATA, Role, check_can_record, get_scoped_or_404

if TYPE_CHECKING:
    from collections.abc import Iterable

    from django.db.models import QuerySet

    from ally.web.actions.endings import FollowUpChoice


class PracticeActionError(Exception):
    """A change that cannot be made as asked; the message says what to do instead, and `field`
    names the form field it concerns ("" for the whole form)."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def check_can_write(actor: Membership, organisation: Organisation) -> None:
    """Refuse a read-only role (403) and a member of another organisation (404)."""
    if actor.organisation_id != organisation.pk or not actor.is_active:
        raise Http404("Not found.")
    if Role(actor.role) not in RECORDS_CLINICAL_DATA:
        raise PermissionDenied(_("Your role can read this practice's data but not change it."))


def _may_hold_episodes(member: Membership, organisation: Organisation) -> None:
    """A clinician or a care-team member must be an active member who records clinical data."""
    if member.organisation_id != organisation.pk:
        raise Http404("Not found.")
    if not member.is_active or Role(member.role) not in RECORDS_CLINICAL_DATA:
        raise PracticeActionError(
            _("Choose an active clinician, supervisor or administrator of this practice.")
        )


def do_create_client(
    organisation: Organisation,
    code: str,
    *,
    name: str,
    email: str = "",
    phone: str = "",
    actor: Membership,
) -> Client:
    """A client known by `code`, with their name and contact details kept apart."""
    check_can_write(actor, organisation)
    code, name, email, phone = code.strip(), name.strip(), email.strip(), phone.strip()
    if not code:
        raise PracticeActionError(_("Give the client a code."), field="code")
    if not name:
        raise PracticeActionError(_("Give the client's name."), field="name")
    details = {"name": name, "email": email, "phone": phone}
    for field, value in details.items():
        # The sealed column has no width of its own, so the lengths are kept here.
        if len(value) > LONGEST[field]:
            raise PracticeActionError(
                _("This is longer than %(count)s characters; shorten it.")
                % {"count": LONGEST[field]},
                field=field,
            )
    try:
        with transaction.atomic():
            client = Client.objects.create(organisation=organisation, code=code)
            ClientIdentity.objects.create(client=client, **details)
            audit.record("client.created", actor=actor, target=client)
    except IntegrityError:
        raise PracticeActionError(
            _("Another client of this practice has this code already; choose another code."),
            field="code",
        ) from None
    return client


def do_open_episode(
    client: Client, clinician: Membership, opened_on: dt.date, *, actor: Membership
) -> Episode:
    """A new episode of care for the client, assigned to `clinician`."""
    organisation = client.organisation
    check_can_write(actor, organisation)
    brand_new = Client.objects.filter(pk=client.pk, episodes__isnull=True).exists()
    if not brand_new:
        # A client with episodes must be one the actor sees (a clinician: on their caseload).
        get_scoped_or_404(Client, actor, pk=client.pk)
    _may_hold_episodes(clinician, organisation)
    with transaction.atomic():
        # Locking the client makes two submissions of the same form take turns.
        list(Client.objects.select_for_update().filter(pk=client.pk).values_list("pk"))
        if Episode.objects.filter(client=client, ended_on__isnull=True).exists():
            raise PracticeActionError(
                _("This client has an open episode already; end it before opening another.")
            )
        episode = Episode.objects.create(
            organisation=organisation, client=client, clinician=clinician, opened_on=opened_on
        )
        audit.record("episode.opened", actor=actor, target=episode)
        if organisation.kind == "coaching":
            _start_plan(episode, COACHING_PLAN, actor)
    return episode


COACHING_PLAN: tuple[tuple[str, str, str], ...] = (
    ("who5", "client", "before"),
    ("goal-progress", "client", "after"),
    ("ally-coaching-alliance", "client", "after"),
)
"""A coaching engagement's plan from its start (issue 14): WHO-5 before each session, progress
on the client's goals and Ally's coaching alliance check-in after it. The coach changes it on
the plan page like any plan."""


def _start_plan(
    episode: Episode, entries: tuple[tuple[str, str, str], ...], actor: Membership
) -> None:
    plan = MeasurementPlan.objects.create(episode=episode)
    for measure_id, respondent, timing in entries:
        entry = PlannedMeasure.objects.create(
            plan=plan, measure_id=measure_id, respondent=respondent, timing=timing
        )
        audit.record("plan.measure_added", actor=actor, target=entry)


def do_create_client_with_episode(
    organisation: Organisation,
    code: str,
    *,
    name: str,
    email: str = "",
    phone: str = "",
    clinician: Membership,
    opened_on: dt.date,
    actor: Membership,
) -> Episode:
    """A new client and their first episode, in one transaction.

    Together because a clinician sees a client only through an episode on their caseload: a
    client created alone would vanish from the screen of the clinician who created them.
    """
    with transaction.atomic():
        client = do_create_client(
            organisation, code, name=name, email=email, phone=phone, actor=actor
        )
        return do_open_episode(client, clinician, opened_on, actor=actor)


def do_end_episode(
    episode: Episode,
    ended_on: dt.date,
    reason: str,
    *,
    actor: Membership,
    follow_up: FollowUpChoice | None = None,
    summary: str = "",
    tell_stopped: bool = False,
    now: dt.datetime | None = None,
) -> Episode:
    """Record the end of an episode: the date and why (planned, dropout, referred, other).

    A planned ending sends the client the final measures and the end-of-therapy review, which
    take answers after the ending (actions/endings.py); any ending may keep the clinician's
    closing `summary` and schedule a `follow_up` check. `now` is the time it is recorded (the
    demo's own clock; the present by default)."""
    from ally.web.actions.endings import EndingActionError, check_ending_choices, record_ending

    check_can_record(actor, episode)
    if reason not in EndReason.values:
        raise PracticeActionError(_("Choose why the episode ended."), field="reason")
    try:
        follow_up, summary = check_ending_choices(reason, follow_up, summary, tell_stopped)
    except EndingActionError as exc:
        raise PracticeActionError(str(exc), field=exc.field) from None
    if ended_on < episode.opened_on:
        raise PracticeActionError(
            _("The end date is before the episode was opened; check it."), field="ended_on"
        )
    now = now or timezone.now()
    if ended_on > timezone.localdate(now):
        raise PracticeActionError(
            _("The end date is in the future; end the episode on the day."), field="ended_on"
        )
    with transaction.atomic():
        locked = Episode.objects.select_for_update().get(pk=episode.pk)
        if locked.ended_on is not None:
            raise PracticeActionError(_("This episode has ended already."))
        locked.ended_on, locked.end_reason = ended_on, reason
        locked.save(update_fields=["ended_on", "end_reason"])
        _close_forms_at_the_end(locked, now)
        # How an episode ended changes its results (an open rupture becomes unrepaired).
        refresh_episode(locked, now)
        audit.record("episode.ended", actor=actor, target=locked)
        record_ending(
            locked,
            actor=actor,
            follow_up=follow_up,
            summary=summary,
            tell_stopped=tell_stopped,
            now=now,
        )
    return locked


def _close_forms_at_the_end(episode: Episode, now: dt.datetime) -> None:
    """The ending closes the episode's open forms (hazard H12): a later session's at once, the
    others when the grace after the last day runs out (`answers_close_at`), so no link sent
    earlier takes answers that nobody would look for."""
    from ally.web.actions.answers import do_expire_administration
    from ally.web.collect.models import Administration
    from ally.web.collect.models.administrations import (
        OPEN_STATUSES,
        after_the_end,
        answers_close_at,
    )

    closes = answers_close_at(episode)
    if closes is None:
        return
    still_open = Administration.objects.filter(
        episode=episode, status__in=sorted(OPEN_STATUSES)
    ).select_related("session", "episode")
    for administration in still_open:
        if after_the_end(administration) or closes <= now:
            do_expire_administration(administration)
        elif administration.expires_at is None or administration.expires_at > closes:
            administration.expires_at = closes
            administration.save(update_fields=["expires_at"])
            audit.record("administration.closes", actor=None, target=administration)


def do_add_care_team_member(
    episode: Episode,
    member: Membership,
    role: str = "",
    *,
    receives_alerts: bool = True,
    actor: Membership,
) -> CareTeamMember:
    """Add a further professional to the episode; they see it as the assigned clinician does."""
    check_can_record(actor, episode)
    _may_hold_episodes(member, episode.organisation)
    if member.pk == episode.clinician_id:
        raise PracticeActionError(
            _("This member is the episode's assigned clinician already."), field="member"
        )
    try:
        with transaction.atomic():
            entry = CareTeamMember.objects.create(
                episode=episode,
                member=member,
                role=_team_role(role),
                receives_alerts=receives_alerts,
            )
            audit.record("care_team.added", actor=actor, target=entry)
    except IntegrityError:
        raise PracticeActionError(
            _("This member is in the care team already."), field="member"
        ) from None
    return entry


def _team_role(role: str) -> str:
    role = role.strip()
    if role not in TeamRole.values:
        raise PracticeActionError(_("Choose the member's role on the team."), field="role")
    return role


def do_change_care_team_member(
    entry: CareTeamMember, *, role: str, receives_alerts: bool, actor: Membership
) -> CareTeamMember:
    """A care-team member's role on the team, and whether the episode's alerts reach them (in
    their alert list and count; the assigned clinician always receives them)."""
    check_can_record(actor, entry.episode)
    role = _team_role(role)
    with transaction.atomic():
        locked = CareTeamMember.objects.select_for_update().get(pk=entry.pk)
        locked.role, locked.receives_alerts = role, receives_alerts
        locked.save(update_fields=["role", "receives_alerts"])
        audit.record("care_team.changed", actor=actor, target=locked)
    return locked


def do_remove_care_team_member(entry: CareTeamMember, *, actor: Membership) -> None:
    """Take a member off the episode's care team: from now on they see it only if their role
    sees the whole practice."""
    check_can_record(actor, entry.episode)
    with transaction.atomic():
        audit.record("care_team.removed", actor=actor, target=entry)
        entry.delete()


def do_schedule_session(
    episode: Episode,
    scheduled_at: dt.datetime,
    *,
    actor: Membership,
    clinician: Membership | None = None,
) -> Session:
    """A session of the episode, numbered in date order, with its forms from the plan."""
    from ally.web.collect.planning import administrations_for_session

    check_can_record(actor, episode)
    clinician = clinician or episode.clinician
    _may_hold_episodes(clinician, episode.organisation)
    with transaction.atomic():
        # The episode's row lock makes two schedulings take turns, so numbers never clash.
        locked = Episode.objects.select_for_update().get(pk=episode.pk)
        if locked.ended_on is not None:
            raise PracticeActionError(_("This episode has ended; open a new one to add sessions."))
        number = number_in_date_order(locked.sessions.all(), scheduled_at)
        moved = list(locked.sessions.filter(number__gt=number))
        session = Session.objects.create(
            organisation=locked.organisation,
            episode=locked,
            clinician=clinician,
            number=number,
            scheduled_at=scheduled_at,
        )
        audit.record("session.scheduled", actor=actor, target=session)
        administrations_for_session(session, actor)
        _forms_renumbered(moved, actor)
    return session


def number_in_date_order(sessions: QuerySet[Session], scheduled_at: dt.datetime) -> int:
    """The number a new session at `scheduled_at` takes, so that numbers follow dates: a
    session's number is the order in which its scores are read (expected course, reliable
    change, sudden gains). Sessions booked after it that have not taken place move up by one;
    one that has taken place (attended or missed) or holds answers cannot, and the new session
    is refused. Call inside the transaction that holds the episode's (or group's) row lock."""
    later = list(sessions.filter(scheduled_at__gt=scheduled_at).order_by("-number"))
    if not later:
        return (sessions.aggregate(last=Max("number"))["last"] or 0) + 1
    held = [
        s
        for s in later
        if s.status in (SessionStatus.ATTENDED, SessionStatus.MISSED)
        or s.administrations.filter(response__isnull=False).exists()
    ]
    if held:
        first = min(held, key=lambda s: s.scheduled_at)
        when = date_format(timezone.localtime(first.scheduled_at), "DATETIME_FORMAT")
        raise PracticeActionError(
            _(
                "Session %(number)s, on %(when)s, has already taken place, after the time "
                "chosen. Sessions are numbered in the order they happen: choose a time after it."
            )
            % {"number": first.number, "when": when}
        )
    number = min(s.number for s in later if s.number is not None)
    for moved in later:  # highest first, so no two sessions ever share a number
        moved.number += 1
        moved.save(update_fields=["number"])
    return number


def _forms_renumbered(sessions: Iterable[Session], actor: Membership) -> None:
    """Sessions moved up by one take the forms their episode's plan gives their new number."""
    from ally.web.actions.answers import do_expire_administration
    from ally.web.collect.models.administrations import OPEN_STATUSES
    from ally.web.collect.planning import administrations_for_session

    for session in sessions:
        planned = session.administrations.filter(
            status__in=OPEN_STATUSES, planned__isnull=False
        ).select_related("planned")
        for form in planned:
            if form.planned is not None and not form.planned.applies_to(session.number):
                do_expire_administration(form)
        administrations_for_session(session, actor)


def do_record_session_status(session: Session, status: str, *, actor: Membership) -> Session:
    """Record that a session was attended, missed or cancelled (a correction is allowed).

    An attended session gets its forms from the plan; the forms a missed or cancelled session no
    longer needs are closed, so their links stop working.
    """
    from ally.web.actions.answers import do_expire_administration
    from ally.web.collect.planning import administrations_for_session, unneeded_forms

    if session.episode is None:
        raise PracticeActionError(_("Group sessions are recorded on the group's page."))
    check_can_record(actor, session.episode)
    if status not in SessionStatus.values:
        raise PracticeActionError(
            _("Choose whether the session was attended, missed or cancelled.")
        )
    with transaction.atomic():
        locked = Session.objects.select_for_update().get(pk=session.pk)
        if locked.status != status:
            locked.status = status
            locked.status_changed_at = timezone.now()
            locked.save(update_fields=["status", "status_changed_at"])
            audit.record("session.status", actor=actor, target=locked)
        if locked.status in (SessionStatus.SCHEDULED, SessionStatus.ATTENDED):
            administrations_for_session(locked, actor)
        for administration in unneeded_forms(locked):
            do_expire_administration(administration)
    return locked


def checked_plan_entry(
    measure_id: str,
    respondent: str,
    timing: str,
    first_session: int,
    every: int,
    last_session: int | None,
) -> str:
    """The library's id of a plan entry's measure, once the entry is one Ally can follow (an
    episode's plan or a group's); a PracticeActionError saying what to change otherwise."""
    try:
        measure_id = measures.measure(measure_id).id
    except KeyError:
        raise PracticeActionError(_("Choose a measure from the list."), field="measure") from None
    if respondent not in Respondent.values or timing not in Timing.values:
        raise PracticeActionError(_("Choose who answers and whether before or after the session."))
    if first_session < 1 or every < 1:
        raise PracticeActionError(_("Sessions are counted from 1, and 'every' is at least 1."))
    if last_session is not None and last_session < first_session:
        raise PracticeActionError(
            _("The last session comes before the first; check them."), field="last_session"
        )
    return measure_id


def do_add_planned_measure(
    episode: Episode,
    measure_id: str,
    *,
    respondent: str,
    timing: str,
    first_session: int = 1,
    every: int = 1,
    last_session: int | None = None,
    actor: Membership,
) -> PlannedMeasure:
    """Add a measure to the episode's plan (creating the plan on first use)."""
    check_can_record(actor, episode)
    measure_id = checked_plan_entry(
        measure_id, respondent, timing, first_session, every, last_session
    )
    with transaction.atomic():
        plan, _created = MeasurementPlan.objects.get_or_create(episode=episode)
        # Locking the plan makes two submissions of the same entry take turns.
        list(MeasurementPlan.objects.select_for_update().filter(pk=plan.pk).values_list("pk"))
        same = plan.entries.filter(measure_id=measure_id, respondent=respondent, timing=timing)
        if same.exists():
            raise PracticeActionError(
                _(
                    "The plan has this measure for this respondent and timing already; "
                    "remove that entry first to change its sessions."
                )
            )
        entry = PlannedMeasure.objects.create(
            plan=plan,
            measure_id=measure_id,
            respondent=respondent,
            timing=timing,
            first_session=first_session,
            every=every,
            last_session=last_session,
        )
        plan.save(update_fields=["updated_at"])
        audit.record("plan.measure_added", actor=actor, target=entry)
    return entry


def do_remove_planned_measure(entry: PlannedMeasure, *, actor: Membership) -> None:
    """Take a measure out of the plan; forms already created stay as they are."""
    episode = entry.plan.episode
    check_can_record(actor, episode)
    with transaction.atomic():
        audit.record("plan.measure_removed", actor=actor, target=entry)
        entry.delete()
        entry.plan.save(update_fields=["updated_at"])
