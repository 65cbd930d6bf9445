"""The dashboard's figures: counts per clinician, added up in the database.

Each episode has one assigned clinician, so an episode, its alerts and its feedback are counted
for that clinician only (care-team members get no share), and the practice's total is the sum of
its clinicians' counts. Every query starts from `scoped(...)` and groups by clinician, so the
number of queries stays the same however many clinicians a practice has.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from ally.web.alerts.models import Alert, AlertKind
from ally.web.collect.measures import library
from ally.web.monitoring.models import EpisodeFeedback, SessionFeedback
from ally.web.practice.models import EndReason, Episode, Membership
from ally.web.scoping import Role, scoped

CLIENT = "client"
"""The rater whose ratings the dashboard summarises: outcome and alliance as the client sees it."""


def measures_of_kind(kind: str) -> tuple[str, ...]:
    """Ids of the library's measures of this kind ("outcome" or "alliance"), in library order."""
    return tuple(m.id for m in library().measures.values() if m.kind == kind)


@dataclass(frozen=True)
class Period:
    """From `start` to `end`, both days included, in the practice's time zone."""

    start: dt.date
    end: dt.date

    @classmethod
    def last_twelve_months(cls, today: dt.date) -> Period:
        try:
            year_ago = today.replace(year=today.year - 1)
        except ValueError:  # 29 February
            year_ago = today.replace(year=today.year - 1, day=28)
        return cls(year_ago + dt.timedelta(days=1), today)

    @property
    def starts_at(self) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(self.start, dt.time.min))

    @property
    def ends_before(self) -> dt.datetime:
        """The first moment after the period: midnight at the start of the day after `end`."""
        return timezone.make_aware(
            dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min)
        )


@dataclass
class Tally:
    """The raw counts of one clinician, or of the whole practice."""

    in_period: int = 0
    """Episodes open at any time in the period."""
    open_at_end: int = 0
    ended: int = 0
    """Episodes that ended in the period."""
    dropouts: int = 0
    alliance_rated: int = 0
    """Episodes in the period with any client-rated alliance measure."""
    unrepaired: int = 0
    """Of those, episodes with a rupture that was not repaired."""
    open_alerts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(AlertKind.values, 0))
    raised: int = 0
    """Alerts raised in the period."""
    acted: int = 0
    """Of those, alerts acted on (so far)."""
    waits: list[dt.timedelta] = field(default_factory=list)
    """Time from raised to acted on, for each alert acted on."""
    outcomes: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    """Per outcome measure: ended episodes per category ("" when the engine gave none)."""
    alliance: dict[str, tuple[float, int]] = field(default_factory=dict)
    """Per alliance measure: sum of the episodes' latest scores and the number of episodes."""

    @property
    def open_alert_total(self) -> int:
        return sum(self.open_alerts.values())

    @property
    def median_wait(self) -> dt.timedelta | None:
        if not self.waits:
            return None
        return dt.timedelta(seconds=statistics.median(w.total_seconds() for w in self.waits))

    def add(self, other: Tally) -> None:
        """Add another clinician's counts (every episode has exactly one clinician)."""
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.waits.extend(other.waits)
        for kind, n in other.open_alerts.items():
            self.open_alerts[kind] = self.open_alerts.get(kind, 0) + n
        for measure_id, categories in other.outcomes.items():
            mine = self.outcomes[measure_id]
            for category, n in categories.items():
                mine[category] = mine.get(category, 0) + n
        for measure_id, (total, n) in other.alliance.items():
            old_total, old_n = self.alliance.get(measure_id, (0.0, 0))
            self.alliance[measure_id] = (old_total + total, old_n + n)


COUNTS = (
    "in_period",
    "open_at_end",
    "ended",
    "dropouts",
    "alliance_rated",
    "unrepaired",
    "raised",
    "acted",
)
"""The tally's plain counts, which add up over clinicians."""


@dataclass
class Figures:
    """The counts of each clinician shown, and of all of them together."""

    period: Period
    clinicians: list[tuple[Membership, Tally]]
    total: Tally
    chosen: Membership | None = None
    """The one clinician asked for; None for the whole practice."""


def clinicians_of(membership: Membership) -> list[Membership]:
    """Who can be a row: active clinicians, and any member who was ever assigned an episode."""
    assigned = scoped(Episode, membership).filter(clinician=OuterRef("pk"))
    return list(
        scoped(Membership, membership)
        .filter(Q(role=Role.CLINICIAN, is_active=True) | Q(Exists(assigned)))
        .select_related("user")
        .order_by("user__display_name", "user__email", "pk")
    )


def _count_episodes(
    membership: Membership, period: Period, chosen: Membership | None, tallies: dict[int, Tally]
) -> None:
    alliance = scoped(EpisodeFeedback, membership).filter(
        episode=OuterRef("pk"), rater=CLIENT, measure_id__in=measures_of_kind("alliance")
    )
    ended = Q(ended_on__gte=period.start, ended_on__lte=period.end)
    episodes = _in_period(scoped(Episode, membership), period, "")
    if chosen is not None:
        episodes = episodes.filter(clinician=chosen)
    rows = (
        episodes.order_by()
        .values("clinician")
        .annotate(
            in_period=Count("pk"),
            open_at_end=Count("pk", filter=Q(ended_on__isnull=True) | Q(ended_on__gt=period.end)),
            ended=Count("pk", filter=ended),
            dropouts=Count("pk", filter=ended & Q(end_reason=EndReason.DROPOUT)),
            alliance_rated=Count("pk", filter=Exists(alliance)),
            unrepaired=Count("pk", filter=Exists(alliance.filter(unrepaired__gt=0))),
        )
    )
    for row in rows:
        tally = tallies[row.pop("clinician")]
        for name, value in row.items():
            setattr(tally, name, value)


def _in_period(rows: Any, period: Period, to_episode: str) -> Any:
    """Rows of episodes open at any time in the period (`to_episode`: path to the episode)."""
    return rows.filter(
        Q(**{f"{to_episode}opened_on__lte": period.end}),
        Q(**{f"{to_episode}ended_on__isnull": True})
        | Q(**{f"{to_episode}ended_on__gte": period.start}),
    )


def _count_alerts(
    membership: Membership, period: Period, chosen: Membership | None, tallies: dict[int, Tally]
) -> None:
    alerts = scoped(Alert, membership).filter(raised_at__lt=period.ends_before)
    if chosen is not None:
        alerts = alerts.filter(episode__clinician=chosen)
    in_period = Q(raised_at__gte=period.starts_at)
    rows = (
        alerts.order_by()
        .values("episode__clinician", "kind")
        .annotate(
            open=Count("pk", filter=Q(acted_at__isnull=True) | Q(acted_at__gte=period.ends_before)),
            raised=Count("pk", filter=in_period),
            acted=Count("pk", filter=in_period & Q(acted_at__isnull=False)),
        )
    )
    for row in rows:
        tally = tallies[row["episode__clinician"]]
        tally.open_alerts[row["kind"]] = tally.open_alerts.get(row["kind"], 0) + row["open"]
        tally.raised += row["raised"]
        tally.acted += row["acted"]
    # A median is not portable SQL (SQLite has none), so the acted-on alerts' two times come
    # back in one query and the median is taken here.
    acted = alerts.filter(in_period, acted_at__isnull=False).order_by()
    for clinician_id, raised_at, acted_at in acted.values_list(
        "episode__clinician", "raised_at", "acted_at"
    ):
        tallies[clinician_id].waits.append(acted_at - raised_at)


def _count_outcomes(
    membership: Membership, period: Period, chosen: Membership | None, tallies: dict[int, Tally]
) -> None:
    feedback = scoped(EpisodeFeedback, membership).filter(
        rater=CLIENT,
        measure_id__in=measures_of_kind("outcome"),
        episode__ended_on__gte=period.start,
        episode__ended_on__lte=period.end,
    )
    if chosen is not None:
        feedback = feedback.filter(episode__clinician=chosen)
    rows = (
        feedback.order_by()
        .values("episode__clinician", "measure_id", "category")
        .annotate(n=Count("pk"))
    )
    for row in rows:
        tallies[row["episode__clinician"]].outcomes[row["measure_id"]][row["category"]] = row["n"]


def _average_alliance(
    membership: Membership, period: Period, chosen: Membership | None, tallies: dict[int, Tally]
) -> None:
    # Ratings after the period are not yet known at its end, so they are left out.
    rated = Q(date__isnull=True) | Q(date__lte=period.end)
    ratings = scoped(SessionFeedback, membership).filter(rated, rater=CLIENT)
    latest = (
        ratings.filter(episode=OuterRef("episode"), measure_id=OuterRef("measure_id"))
        .order_by("-session_number")
        .values("session_number")[:1]
    )
    rows = _in_period(ratings, period, "episode__").filter(
        measure_id__in=measures_of_kind("alliance"), session_number=Subquery(latest)
    )
    if chosen is not None:
        rows = rows.filter(episode__clinician=chosen)
    for row in (
        rows.order_by()
        .values("episode__clinician", "measure_id")
        .annotate(total=Sum("score"), n=Count("pk"))
    ):
        tallies[row["episode__clinician"]].alliance[row["measure_id"]] = (row["total"], row["n"])


def practice_figures(
    membership: Membership,
    period: Period,
    members: Iterable[Membership],
    chosen: Membership | None = None,
) -> Figures:
    """The figures `membership` may see for the period: one row per member of `members` with
    counts (or per active clinician), or only `chosen`'s row; and the total of all counted."""
    tallies: dict[int, Tally] = defaultdict(Tally)
    for count in (_count_episodes, _count_alerts, _count_outcomes, _average_alliance):
        count(membership, period, chosen, tallies)
    shown = [chosen] if chosen is not None else list(members)
    rows = [
        (member, tallies[member.pk])
        for member in shown
        if member == chosen or member.pk in tallies or _is_active_clinician(member)
    ]
    # The total adds up everything the scoped queries returned, not only the rows shown, so
    # it is the practice's figure even for a member missing from `members`.
    total = Tally()
    for tally in list(tallies.values()):
        total.add(tally)
    return Figures(period, rows, total, chosen)


def _is_active_clinician(member: Membership) -> bool:
    return member.is_active and member.role == Role.CLINICIAN
