"""Which episodes need a clinician first: the one rule that orders the caseload.

The order, first that holds (issue 4, "The clinician's side"):

1. a critical item endorsed or left unanswered, not yet acted on;
2. a red signal: an open red-signal alert, or red at the latest score of an outcome measure;
3. a rupture not repaired: an open rupture alert, or an alliance series with more ruptures than
   repairs (`EpisodeFeedback.not_repaired`, the count the client page shows);
4. a high dropout risk: an open dropout alert, or the latest risk at or above
   ALLY_DROPOUT_ALERT (without a dropout model the indicators are shown as words instead);
5. overdue forms: open past their expiry, or sent more than OVERDUE_AFTER_HOURS ago and not
   answered;

then every other episode; within each group, the soonest next session first.

`caseload_rows` computes this for a whole caseload in a fixed number of queries, whatever its
size; the practice dashboard may call it too.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from django.conf import settings
from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from ally.measures.schema import Kind
from ally.web.alerts.models import Alert, AlertKind
from ally.web.clinic.labels import days_without_session, risk_flag_words
from ally.web.collect import measures
from ally.web.collect.measures import short_name
from ally.web.collect.models import Administration
from ally.web.collect.models.administrations import OPEN_STATUSES, past_expiry
from ally.web.monitoring.models import EpisodeFeedback, SessionFeedback
from ally.web.practice.models import ClientIdentity, Episode, Membership, Session, SessionStatus
from ally.web.scoping import Capability, can, scoped

OVERDUE_AFTER_HOURS = 48
"""A client's form sent this long ago and still not answered counts as overdue."""

CLIENT = "client"
CLINICIAN = "clinician"
CRITICAL_KINDS = (AlertKind.CRITICAL_ITEM, AlertKind.CRITICAL_UNANSWERED)


class Urgency(IntEnum):
    """Lower comes first."""

    CRITICAL_ITEM = 1
    RED_SIGNAL = 2
    UNREPAIRED_RUPTURE = 3
    DROPOUT_RISK = 4
    OVERDUE_FORMS = 5
    ROUTINE = 6


URGENCY_WORDS: dict[Urgency, Promise] = {
    Urgency.CRITICAL_ITEM: _("Critical item"),
    Urgency.RED_SIGNAL: _("Not on track"),
    Urgency.UNREPAIRED_RUPTURE: _("Rupture not repaired"),
    Urgency.DROPOUT_RISK: _("High dropout risk"),
    Urgency.OVERDUE_FORMS: _("Forms overdue"),
    Urgency.ROUTINE: _("Routine"),
}


@dataclass(frozen=True)
class Facts:
    """What is true of one episode now, one flag per urgency group."""

    critical_item: bool = False
    red_signal: bool = False
    unrepaired_rupture: bool = False
    dropout_risk: bool = False
    overdue_forms: bool = False
    red_measures: tuple[str, ...] = ()
    """The outcome measures whose latest score is red, for the reason's words."""

    def holding(self) -> list[Urgency]:
        """Every urgency group that applies, most urgent first."""
        flags = [
            (Urgency.CRITICAL_ITEM, self.critical_item),
            (Urgency.RED_SIGNAL, self.red_signal),
            (Urgency.UNREPAIRED_RUPTURE, self.unrepaired_rupture),
            (Urgency.DROPOUT_RISK, self.dropout_risk),
            (Urgency.OVERDUE_FORMS, self.overdue_forms),
        ]
        return [urgency for urgency, holds in flags if holds]


def urgency(facts: Facts) -> Urgency:
    """The most urgent group that holds; ROUTINE when none does."""
    holding = facts.holding()
    return holding[0] if holding else Urgency.ROUTINE


@dataclass
class CaseRow:
    """One episode on the caseload, with what the caseload shows of it."""

    episode: Episode
    name: str
    """The client's name; empty for roles that never see identities."""
    facts: Facts
    urgency: Urgency
    sessions: int
    """Sessions attended."""
    next_session: dt.datetime | None
    outcome: SessionFeedback | None
    """The latest score of the client's main outcome measure."""
    alliance: SessionFeedback | None
    """The latest alliance rating by the client."""
    dropout_risk: float | None
    risk_flags: list[str] = field(default_factory=list)
    signals: list[SessionFeedback] = field(default_factory=list)
    """The latest client-rated score of each outcome measure that has a signal."""

    @property
    def reasons(self) -> list[str]:
        """Each reason the episode needs attention; "Not on track" names its measures."""
        words = []
        for u in self.facts.holding():
            word = str(URGENCY_WORDS[u])
            if u is Urgency.RED_SIGNAL and self.facts.red_measures:
                word += f" ({', '.join(map(short_name, self.facts.red_measures))})"
            words.append(word)
        return words

    def sort_key(self) -> tuple[Any, ...]:
        later = self.next_session is None
        when = self.next_session or dt.datetime.max.replace(tzinfo=dt.UTC)
        return (self.urgency, later, when, self.episode.client.code, self.episode.pk)


def measure_kind(measure_id: str) -> Kind | None:
    """The measure's kind (outcome, alliance), or None for a measure the library lacks."""
    try:
        return measures.measure(measure_id).kind
    except KeyError:
        return None


def latest_by_measure(
    rows: Iterable[SessionFeedback], rater: str = CLIENT
) -> dict[str, SessionFeedback]:
    """Each measure's latest row by this rater."""
    latest: dict[str, SessionFeedback] = {}
    for row in rows:
        if row.rater != rater:
            continue
        held = latest.get(row.measure_id)
        if held is None or row.session_number > held.session_number:
            latest[row.measure_id] = row
    return latest


def main_measure(rows: Iterable[SessionFeedback], kind: Kind) -> str | None:
    """The client-rated measure of this kind with the most scores; ties go to the one that
    started first, then to the id (as docs/dropout.md chooses the primary outcome)."""
    counts: Counter[str] = Counter()
    first: dict[str, int] = {}
    for row in rows:
        if row.rater == CLIENT and measure_kind(row.measure_id) == kind:
            counts[row.measure_id] += 1
            first[row.measure_id] = min(
                first.get(row.measure_id, row.session_number), row.session_number
            )
    if not counts:
        return None
    return min(counts, key=lambda m: (-counts[m], first[m], m))


def latest_session_rows(rows: list[SessionFeedback]) -> list[SessionFeedback]:
    """The rows of the latest session with any score: the engine's risk columns live there."""
    if not rows:
        return []
    last = max(row.session_number for row in rows)
    return [row for row in rows if row.session_number == last]


def _open_alert(kinds: Iterable[Any]) -> Exists:
    return Exists(
        Alert.objects.filter(episode=OuterRef("pk"), kind__in=list(kinds), acted_at__isnull=True)
    )


def overdue_forms(now: dt.datetime) -> Q:
    """Administrations still open past their expiry, or sent more than OVERDUE_AFTER_HOURS ago
    and not answered."""
    sent_before = now - dt.timedelta(hours=OVERDUE_AFTER_HOURS)
    return Q(status__in=list(OPEN_STATUSES)) & (past_expiry(now) | Q(sent_at__lt=sent_before))


def annotated(episodes: QuerySet[Episode], now: dt.datetime) -> QuerySet[Episode]:
    """Episodes with the facts the database can answer in the same query."""
    overdue = Administration.objects.filter(overdue_forms(now), episode=OuterRef("pk"))
    attended = (
        Session.objects.filter(episode=OuterRef("pk"), status=SessionStatus.ATTENDED)
        .order_by()
        .values("episode")
        .annotate(n=Count("pk"))
        .values("n")
    )
    upcoming = Session.objects.filter(
        episode=OuterRef("pk"), status=SessionStatus.SCHEDULED
    ).order_by("scheduled_at")
    return episodes.annotate(
        open_critical=_open_alert(CRITICAL_KINDS),
        open_red=_open_alert((AlertKind.SIGNAL_RED,)),
        open_rupture=_open_alert((AlertKind.RUPTURE,)),
        open_dropout=_open_alert((AlertKind.DROPOUT_RISK,)),
        unrepaired=Exists(
            EpisodeFeedback.objects.filter(episode=OuterRef("pk"), ruptures__gt=F("repairs"))
        ),
        overdue=Exists(overdue),
        attended=Coalesce(Subquery(attended, output_field=IntegerField()), Value(0)),
        next_session=Subquery(upcoming.values("scheduled_at")[:1]),
        last_attended=Subquery(
            Session.objects.filter(episode=OuterRef("pk"), status=SessionStatus.ATTENDED)
            .order_by("-scheduled_at")
            .values("scheduled_at")[:1]
        ),
    )


def facts_of(episode: Any, rows: list[SessionFeedback]) -> tuple[Facts, float | None, list[str]]:
    """The episode's facts from its annotations and its feedback rows; with the latest dropout
    risk and indicators."""
    latest = latest_by_measure(rows)
    red_measures = tuple(
        sorted(
            measure_id
            for measure_id, row in latest.items()
            if row.signal == "red" and measure_kind(measure_id) == Kind.OUTCOME
        )
    )
    last = latest_session_rows([row for row in rows if row.rater == CLIENT] or rows)
    risks = [row.dropout_risk for row in last if row.dropout_risk is not None]
    risk = max(risks) if risks else None
    flags = sorted({flag for row in last for flag in row.risk_flags.split(";") if flag})
    facts = Facts(
        critical_item=episode.open_critical,
        red_signal=episode.open_red or bool(red_measures),
        red_measures=red_measures,
        unrepaired_rupture=episode.open_rupture or episode.unrepaired,
        dropout_risk=episode.open_dropout
        or (risk is not None and risk >= settings.ALLY_DROPOUT_ALERT),
        overdue_forms=episode.overdue,
    )
    return facts, risk, flags


def caseload_rows(
    membership: Membership,
    *,
    episodes: QuerySet[Episode] | None = None,
    include_open: bool = True,
    include_ended: bool = False,
    now: dt.datetime | None = None,
) -> list[CaseRow]:
    """The member's episodes (or those of `episodes` the member may see), most urgent first."""
    now = now or timezone.now()
    chosen = scoped(episodes if episodes is not None else Episode, membership)
    if not include_open:
        chosen = chosen.filter(ended_on__isnull=False)
    if not include_ended:
        # An ended episode with a critical answer not yet acted on stays on the caseload: a
        # client may answer the last session's forms after the ending (hazard H12).
        unresolved = Alert.objects.filter(
            episode=OuterRef("pk"),
            kind__in=(AlertKind.CRITICAL_ITEM, AlertKind.CRITICAL_UNANSWERED),
            acted_at__isnull=True,
        )
        chosen = chosen.filter(Q(ended_on__isnull=True) | Exists(unresolved))
    feedback = SessionFeedback.objects.order_by("session_number", "measure_id").only(
        "episode_id",
        "measure_id",
        "rater",
        "session_number",
        "score",
        "band",
        "signal",
        "risk_flags",
        "dropout_risk",
    )
    listed = list(
        annotated(chosen, now)
        .select_related("client", "clinician__user")
        .prefetch_related(Prefetch("session_feedback", queryset=feedback, to_attr="rows"))
    )
    names: dict[int, str] = {}
    if can(membership, Capability.SEE_IDENTITY):
        identities = scoped(ClientIdentity, membership).filter(
            client_id__in=[e.client_id for e in listed]
        )
        # Names are sealed: opened row by row, not selected as a column.
        names = {identity.client_id: identity.name for identity in identities}
    result = []
    for episode in listed:
        rows: list[SessionFeedback] = episode.rows
        facts, risk, flags = facts_of(episode, rows)
        gap = "" if episode.ended_on else days_without_session(episode.last_attended, now)
        words = risk_flag_words(";".join(flags))
        latest = latest_by_measure(rows)
        outcome = main_measure(rows, Kind.OUTCOME)
        alliance = main_measure(rows, Kind.ALLIANCE)
        result.append(
            CaseRow(
                episode=episode,
                name=names.get(episode.client_id, ""),
                facts=facts,
                urgency=urgency(facts),
                sessions=episode.attended,
                next_session=episode.next_session,
                outcome=latest[outcome] if outcome else None,
                alliance=latest[alliance] if alliance else None,
                dropout_risk=risk,
                risk_flags=[gap, *words] if gap else words,
                signals=[
                    row
                    for measure_id, row in sorted(latest.items())
                    if row.signal and measure_kind(measure_id) == Kind.OUTCOME
                ],
            )
        )
    return sorted(result, key=CaseRow.sort_key)
