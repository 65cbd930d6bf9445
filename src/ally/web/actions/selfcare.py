"""A member's own self-care check-ins and their schedule.

The audit entry names the member and the kind of event only: no answer, no score, no note and
no row id goes into it (the audit log is the administrators' to read).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ally.scoring.administration import ScoringError, score
from ally.web.audit import record_event
from ally.web.collect import measures
from ally.web.practice.models import Membership
from ally.web.selfcare.models import CheckIn, Schedule
from ally.web.selfcare.readings import SCHEDULES
from ally.web.text import NOTE, NOTE_MAX_LENGTH, TextRefusedError, clean


class SelfCareError(Exception):
    """A check-in that cannot be stored as given, with a message for the member."""


def _own(member: Membership) -> None:
    if not member.is_active or not member.user.is_active:
        raise PermissionDenied(_("Only an active member checks in on themselves."))


def do_check_in(
    member: Membership,
    answers: Sequence[float | None],
    *,
    measure_id: str = "ally-self-care",
    note: str = "",
    now: dt.datetime | None = None,
) -> CheckIn:
    """Score and keep the member's check-in (the self-care check-in, or the ProQOL where the
    practice holds its text)."""
    _own(member)
    measure = measures.measure(measure_id)
    if measure.kind != "self_care":
        raise SelfCareError(_("Choose a self-care check-in."))
    try:
        scored = score(measure, list(answers))
    except ScoringError:
        raise SelfCareError(_("Answer every question with a number from the scale.")) from None
    try:
        note = clean(note, NOTE)
    except TextRefusedError as exc:
        raise SelfCareError(str(exc)) from None
    if len(note) > NOTE_MAX_LENGTH:
        raise SelfCareError(
            _("Shorten the note to %(count)s characters.") % {"count": NOTE_MAX_LENGTH}
        )
    with transaction.atomic():
        made = CheckIn(
            member=member,
            measure_id=measure.id,
            answered_at=now or timezone.now(),
            total=scored.total,
            subscales=scored.subscales,
        )
        made.seal_answers(list(answers), note)
        made.save()
        record_event(
            "self_care.checked_in",
            actor=member,
            organisation_id=member.organisation_id,
            target_type="self-care",
        )
    return made


def do_set_schedule(member: Membership, every_days: int | None) -> None:
    """How often the member wants to check in (None: no schedule)."""
    _own(member)
    if every_days is not None and every_days not in SCHEDULES:
        raise SelfCareError(_("Choose every week, every two weeks or every four weeks."))
    with transaction.atomic():
        if every_days is None:
            Schedule.objects.filter(member=member).delete()
        else:
            Schedule.objects.update_or_create(
                member=member, defaults={"every_days": every_days, "set_at": timezone.now()}
            )
        record_event(
            "self_care.schedule_set",
            actor=member,
            organisation_id=member.organisation_id,
            target_type="self-care",
        )
