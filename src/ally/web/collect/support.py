"""The support check's rules: when a client is off track, and whether the spell has its check.

The signal itself comes from the one rule the practice model applies (`ally.feedback`), stored
in SessionFeedback by every answer's refresh; nothing here decides a signal.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from django.db.models import QuerySet

from ally.measures import Kind
from ally.web.alerts.models import SupportCheck
from ally.web.collect import measures
from ally.web.collect.models import AdministrationStatus
from ally.web.monitoring.models import SessionFeedback
from ally.web.practice.models import Episode


def kind_of(measure_id: str) -> Kind | None:
    """The measure's kind, or None for a measure the library lacks."""
    try:
        return measures.measure(measure_id).kind
    except KeyError:
        return None


OFF_TRACK = frozenset({"yellow", "red"})
"""The signals of a client who is not on track (docs/feedback.md): less progress than expected,
or not on track."""


def off_track_since(rows: Iterable[SessionFeedback]) -> int | None:
    """The session at which the client's current off-track spell began, or None when the latest
    session is on track: the run of latest sessions at which some client-rated outcome measure
    had a yellow or red signal."""
    off: dict[int, bool] = {}
    for row in rows:
        if row.rater != "client" or not row.signal or kind_of(row.measure_id) != Kind.OUTCOME:
            continue
        off[row.session_number] = off.get(row.session_number, False) or row.signal in OFF_TRACK
    start = None
    for session in sorted(off, reverse=True):
        if not off[session]:
            break
        start = session
    return start


def support_checks(episode: Episode) -> QuerySet[SupportCheck]:
    """The episode's support checks, newest first."""
    return (
        SupportCheck.objects.filter(episode=episode)
        .select_related("administration", "requested_by__user")
        .order_by("-requested_at", "-pk")
    )


def spell_has_check(checks: Sequence[SupportCheck], spell: int, now: dt.datetime) -> bool:
    """Whether a support check still open, or one answered for this spell, covers it: one
    spell gets one check (an expired, unanswered one may be followed by another)."""
    for check in checks:
        administration = check.administration
        if administration.is_open and not administration.is_past_expiry(now):
            return True
        if administration.status == AdministrationStatus.COMPLETED and check.spell_started == spell:
            return True
    return False
