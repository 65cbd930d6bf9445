"""The group check-in read level by level: ruptures, group means by session, and members who
drift away from a group that holds.

Pure functions over plain values: the web app (`ally.web.groups`) and the batch engine call them.
A member's series at one level is their scores at the group sessions they answered, in order;
ruptures in it are found by `ally.feedback.alliance.ruptures_in_series`, the same rule function
and the same practice rules as an individual alliance measure (docs/alliance.md).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ally.feedback.alliance import (
    STRAUSS_2006,
    TOTAL,
    RuptureConfig,
    SeriesRuptures,
    ruptures_in_series,
)
from ally.measures.schema import Kind, Measure

LEVELS = ("leader", "members", "group")
"""The member with the group's leader, with the other members, with the group as a whole."""
QUALITIES = ("bond", "work")
SCALES = ("total", *LEVELS, *QUALITIES)

SMALLEST_SHOWN = 3
"""Fewer answering members than this and a group aggregate is not shown to anyone but the
group's leaders: with two answers, each member could work out the other's."""

DRIFT_POINTS = 1.5
"""How far (0-10 points) a member's distance from the rest of the group must fall below its own
earlier average to count as drifting away [U: Ally's own choice, 15% of the scale]."""
HOLD_POINTS = 0.5
"""How little the rest of the group's mean may fall meanwhile for the group to count as holding
[U: Ally's own choice]."""


@dataclass(frozen=True)
class CheckIn:
    """One member's scores at one group session (scale -> 0-10 score, None where not scored)."""

    member: int
    session: int
    """The group session's number."""
    scores: Mapping[str, float | None]


def reads_levels(measure: Measure) -> bool:
    """Whether a measure is a group check-in read level by level: a group alliance measure
    with a subscale for each of the three levels (Ally's ally-group)."""
    ids = {s.id for s in measure.scoring.subscales}
    return measure.kind is Kind.GROUP_ALLIANCE and set(LEVELS) <= ids


def level_rules(practice: RuptureConfig) -> RuptureConfig:
    """The practice's rupture rules for a level's series: its rules on the total apply as they
    are; a rule on an alliance measure's own subscale has no meaning here, so without a rule on
    the total the default (Strauss et al. 2006) applies."""
    if all(rule.scale == TOTAL for rule in practice.rules):
        return RuptureConfig(
            rules=practice.rules,
            combine=practice.combine,
            repair_tolerance=practice.repair_tolerance,
            repair_within=practice.repair_within,
        )
    return STRAUSS_2006


def level_ruptures(
    series: Mapping[str, Sequence[float | None]],
    *,
    config: RuptureConfig = STRAUSS_2006,
    ended: bool = False,
) -> dict[str, SeriesRuptures]:
    """Ruptures and repairs in one member's series at each level (None = not answered)."""
    return {
        level: ruptures_in_series(series[level], config=config, ended=ended)
        for level in LEVELS
        if level in series
    }


def member_series(
    checkins: Iterable[CheckIn], member: int
) -> tuple[list[int], dict[str, list[float | None]]]:
    """A member's group sessions in order, and their score series at every scale."""
    own = sorted((c for c in checkins if c.member == member), key=lambda c: c.session)
    sessions = [c.session for c in own]
    return sessions, {s: [c.scores.get(s) for c in own] for s in SCALES}


@dataclass(frozen=True)
class SessionMean:
    """The group's mean at one scale and session, over the members who answered."""

    session: int
    scale: str
    n: int
    mean: float | None
    """None when no one answered, or when fewer than `smallest` did (suppressed)."""
    sd: float | None
    suppressed: bool = False


def session_means(
    checkins: Iterable[CheckIn], scales: Sequence[str] = SCALES, *, smallest: int = 1
) -> list[SessionMean]:
    """Mean, SD (n - 1) and n at each session and scale; below `smallest` answers the values
    are withheld (`SMALLEST_SHOWN` for anyone but the leaders)."""
    found: dict[tuple[int, str], list[float]] = {}
    sessions = set()
    for c in checkins:
        sessions.add(c.session)
        for scale in scales:
            value = c.scores.get(scale)
            if value is not None and not math.isnan(value):
                found.setdefault((c.session, scale), []).append(float(value))
    rows = []
    for session in sorted(sessions):
        for scale in scales:
            values = found.get((session, scale), [])
            n = len(values)
            if n == 0 or n < smallest:
                rows.append(SessionMean(session, scale, n, None, None, suppressed=n > 0))
                continue
            sd = statistics.stdev(values) if n > 1 else None
            rows.append(SessionMean(session, scale, n, statistics.fmean(values), sd))
    return rows


@dataclass(frozen=True)
class Drift:
    """A member whose score falls away from the rest of the group while the group holds."""

    member: int
    session: int
    member_change: float
    """The member's distance from the others' mean now, minus its earlier average."""
    group_change: float
    """The others' mean now, minus its earlier average over the same sessions."""

    @property
    def fall(self) -> float:
        """How far the member fell away, as a positive number of points: "fell 2.0 points"
        reads right where "fell -2.0 points" says the opposite."""
        return -self.member_change


def drifting(checkins: Sequence[CheckIn], scale: str = "group", *, earlier: int = 3) -> list[Drift]:
    """Members whose score at `scale` has fallen away from the rest of the group at their latest
    answered session while the rest of the group's mean held (group-mean centring: each score
    less the others' mean at that session, compared with up to `earlier` sessions before)."""
    by_session: dict[int, dict[int, float]] = {}
    for c in checkins:
        value = c.scores.get(scale)
        if value is not None and not math.isnan(value):
            by_session.setdefault(c.session, {})[c.member] = float(value)
    found = []
    for member in sorted({c.member for c in checkins}):
        points = []  # (session, distance from the others, the others' mean)
        for session in sorted(by_session):
            scores = by_session[session]
            others = [v for m, v in scores.items() if m != member]
            if member in scores and others:
                mean = statistics.fmean(others)
                points.append((session, scores[member] - mean, mean))
        if len(points) < 3:
            continue
        *before, (session, distance, others_mean) = points
        before = before[-earlier:]
        member_change = distance - statistics.fmean(p[1] for p in before)
        group_change = others_mean - statistics.fmean(p[2] for p in before)
        if member_change <= -DRIFT_POINTS and group_change >= -HOLD_POINTS:
            found.append(Drift(member, session, member_change, group_change))
    return found
