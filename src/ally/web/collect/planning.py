"""From a measurement plan to the forms of one session.

`administrations_for_session` creates, through `do_create_administration`, one administration
for every plan entry that applies to the session's number and has none yet. It is safe to call
again (when a session is scheduled, then marked attended, or after the plan changes): a session
never gets two forms of the same measure, respondent and timing.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from ally.web.actions.answers import do_create_administration
from ally.web.collect.models import Administration, PlannedMeasure, Timing
from ally.web.collect.models.administrations import OPEN_STATUSES
from ally.web.practice.models import Membership, Session, SessionStatus

NEEDS_FORMS = frozenset({SessionStatus.SCHEDULED, SessionStatus.ATTENDED})
"""A missed or cancelled session gets no new forms."""


def link_expiry(session: Session, now: dt.datetime | None = None) -> dt.datetime:
    """When the session's forms stop taking answers: ALLY_LINK_HOURS after the session, or after
    now for a session that is already past (so a late form still gets its full time)."""
    now = now or timezone.now()
    return max(session.scheduled_at, now) + dt.timedelta(hours=settings.ALLY_LINK_HOURS)


def planned_for(session: Session) -> list[PlannedMeasure]:
    """The plan entries that apply to this session's number, in the plan's order."""
    if session.episode_id is None or session.number is None:
        return []
    entries = PlannedMeasure.objects.filter(plan__episode_id=session.episode_id).order_by("pk")
    return [entry for entry in entries if entry.applies_to(session.number)]


def administrations_for_session(session: Session, actor: Membership | None) -> list[Administration]:
    """Create the session's missing forms from its episode's plan; returns the new ones only."""
    if session.status not in NEEDS_FORMS:
        return []
    if session.episode_id is not None and session.episode.ended_on is not None:
        return []  # an ended episode takes no new forms (do_create_administration)
    wanted = planned_for(session)
    if not wanted:
        return []
    created = []
    with transaction.atomic():
        # The session's row lock makes two calls for one session take turns: no duplicates.
        locked = Session.objects.select_for_update().get(pk=session.pk)
        have = set(locked.administrations.values_list("measure_id", "respondent", "timing"))
        expires_at = link_expiry(locked)
        for entry in wanted:
            key = (entry.measure_id, entry.respondent, entry.timing)
            if key in have:
                continue
            have.add(key)
            created.append(
                do_create_administration(
                    locked.episode,
                    entry.measure_id,
                    actor=actor,
                    expires_at=expires_at,
                    session=locked,
                    planned=entry,
                    respondent=entry.respondent,
                    timing=entry.timing,
                )
            )
    return created


def unneeded_forms(session: Session) -> QuerySet[Administration]:
    """Open forms that the session's status makes pointless: every one of a cancelled session,
    and the after-session ones of a missed session (the before-session ones may be answered)."""
    forms = session.administrations.filter(status__in=OPEN_STATUSES)
    if session.status == SessionStatus.CANCELLED:
        return forms
    if session.status == SessionStatus.MISSED:
        return forms.filter(timing=Timing.AFTER)
    return forms.none()
