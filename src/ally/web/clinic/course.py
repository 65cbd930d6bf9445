"""An episode's course as the client page shows it: the engine's rows regrouped per measure.

The chart and the table under it are drawn from the same points, so they always show the same
numbers.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from ally.measures.schema import Kind, Measure
from ally.web.clinic.urgency import CLIENT, CLINICIAN, measure_kind
from ally.web.collect import measures
from ally.web.monitoring.models import EpisodeFeedback, SessionFeedback
from ally.web.vocabulary import in_practice_words

ALLIANCE_PARTS = ("bond", "goals", "tasks")
"""Bordin's three parts of the alliance, the subscales charted under the total."""


def measure_or_none(measure_id: str) -> Measure | None:
    try:
        return measures.measure(measure_id)
    except KeyError:
        return None


def measure_name(measure_id: str) -> str:
    """The measure's name (names are not translated), in the practice's words: Ally's own
    end-of-therapy review is an end-of-engagement review in a coaching practice."""
    measure = measure_or_none(measure_id)
    return in_practice_words(measure.name) if measure else measure_id


@dataclass(frozen=True)
class OutcomePoint:
    session: int
    date: dt.date | None
    score: float
    band: str
    change: float | None
    rci: float | None
    reliable_change: str
    expected: float | None
    expected_low: float | None
    expected_high: float | None
    signal: str


@dataclass
class OutcomeCourse:
    """One outcome measure rated by the client, session by session."""

    measure_id: str
    measure: Measure | None
    points: list[OutcomePoint]
    summary: EpisodeFeedback | None = None

    @property
    def name(self) -> str:
        return self.measure.name if self.measure else self.measure_id

    @property
    def cutoff(self) -> float | None:
        return self.measure.clinical_cutoff if self.measure else None

    @property
    def lower_is_better(self) -> bool:
        return self.measure is not None and self.measure.direction.sign < 0

    @property
    def latest(self) -> OutcomePoint:
        return self.points[-1]


@dataclass(frozen=True)
class AlliancePoint:
    session: int
    date: dt.date | None
    client: float | None
    """The client's total."""
    parts: dict[str, float | None]
    """The client's bond, goals and tasks scores."""
    clinician: float | None
    """The clinician's own rating of the same session."""
    discrepancy: float | None
    """Client minus clinician, from the engine."""
    rupture: bool
    repair: bool
    rupture_subscale: str


@dataclass
class AllianceCourse:
    """One alliance measure: the client's ratings, their parts, and the clinician's ratings."""

    measure_id: str
    measure: Measure | None
    points: list[AlliancePoint]
    parts: list[str] = field(default_factory=list)
    summary: EpisodeFeedback | None = None

    @property
    def name(self) -> str:
        return self.measure.name if self.measure else self.measure_id

    @property
    def has_clinician(self) -> bool:
        return any(p.clinician is not None for p in self.points)

    @property
    def has_client(self) -> bool:
        return any(p.client is not None for p in self.points)


def _outcome(measure_id: str, rows: list[SessionFeedback]) -> OutcomeCourse:
    points = [
        OutcomePoint(
            session=row.session_number,
            date=row.date,
            score=row.score,
            band=row.band,
            change=row.change,
            rci=row.rci,
            reliable_change=row.reliable_change,
            expected=row.expected,
            expected_low=row.expected_low,
            expected_high=row.expected_high,
            signal=row.signal,
        )
        for row in sorted(rows, key=lambda r: r.session_number)
    ]
    return OutcomeCourse(measure_id, measure_or_none(measure_id), points)


def _alliance(
    measure_id: str, client: list[SessionFeedback], clinician: list[SessionFeedback]
) -> AllianceCourse:
    by_client = {row.session_number: row for row in client}
    by_clinician = {row.session_number: row for row in clinician}
    parts = [p for p in ALLIANCE_PARTS if any(p in row.subscales for row in client)]
    points = []
    for number in sorted(set(by_client) | set(by_clinician)):
        mine, theirs = by_client.get(number), by_clinician.get(number)
        either = mine or theirs
        points.append(
            AlliancePoint(
                session=number,
                date=either.date if either else None,
                client=mine.score if mine else None,
                parts={p: mine.subscales.get(p) for p in parts} if mine else {},
                clinician=theirs.score if theirs else None,
                discrepancy=mine.discrepancy if mine else None,
                rupture=bool(mine and mine.rupture),
                repair=bool(mine and mine.repair),
                rupture_subscale=mine.rupture_subscale if mine else "",
            )
        )
    return AllianceCourse(measure_id, measure_or_none(measure_id), points, parts)


def courses(
    rows: Iterable[SessionFeedback], summaries: Iterable[EpisodeFeedback] = ()
) -> tuple[list[OutcomeCourse], list[AllianceCourse]]:
    """The outcome courses (client-rated) and alliance courses of one episode's feedback rows."""
    grouped: dict[tuple[str, str], list[SessionFeedback]] = defaultdict(list)
    for row in rows:
        grouped[(row.measure_id, row.rater)].append(row)
    summary = {(s.measure_id, s.rater): s for s in summaries}
    outcomes, alliances = [], []
    for measure_id in sorted({m for m, _rater in grouped}):
        kind = measure_kind(measure_id)
        client = grouped.get((measure_id, CLIENT), [])
        if kind == Kind.OUTCOME and client:
            course = _outcome(measure_id, client)
            course.summary = summary.get((measure_id, CLIENT))
            outcomes.append(course)
        elif kind == Kind.ALLIANCE:
            alliance = _alliance(measure_id, client, grouped.get((measure_id, CLINICIAN), []))
            alliance.summary = summary.get((measure_id, CLIENT))
            alliances.append(alliance)
    return outcomes, alliances
