"""The practice's alliance–outcome correlation for the dashboard, beside the meta-analytic one.

The definition (early alliance, improvement, Fisher's interval) is the core's,
`ally.research.correlation`; this module only gathers the scores the member may see.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Q
from django.utils.formats import number_format

from ally.measures.schema import Direction
from ally.research.correlation import (
    EARLY_SESSIONS,
    META_CI,
    META_R,
    META_SOURCE,
    MIN_EPISODES,
    correlation,
    early_alliance,
    improvement,
)
from ally.web.collect.measures import measure, short_name
from ally.web.dashboard.figures import CLIENT, Period, _in_period, measures_of_kind
from ally.web.dashboard.tables import Display
from ally.web.monitoring.models import SessionFeedback
from ally.web.practice.models import Membership
from ally.web.scoping import scoped


@dataclass(frozen=True)
class Line:
    """One alliance measure against one outcome measure, as shown."""

    alliance: str
    outcome: str
    n: int
    episodes: str
    """n as shown: small counts hidden from those who may not see clients (tables.Display)."""
    shown: bool
    r: str = ""
    ci: str = ""


def _r(value: float) -> str:
    return number_format(round(value, 2), 2)


def alliance_outcome_lines(
    membership: Membership,
    period: Period,
    chosen: Membership | None = None,
    show: Display | None = None,
) -> list[Line]:
    """Per alliance and outcome measure: the episodes open in the period with an early alliance
    and an improvement (ratings by the period's end), and their correlation when there are
    MIN_EPISODES or more."""
    show = show or Display(hide_small=False)
    alliance_ids, outcome_ids = measures_of_kind("alliance"), measures_of_kind("outcome")
    rated = Q(date__isnull=True) | Q(date__lte=period.end)
    rows = _in_period(scoped(SessionFeedback, membership), period, "episode__").filter(
        rated, rater=CLIENT, measure_id__in=alliance_ids + outcome_ids
    )
    if chosen is not None:
        rows = rows.filter(episode__clinician=chosen)
    scores: dict[tuple[str, int], list[tuple[int, float]]] = defaultdict(list)
    for episode_id, measure_id, session, score in rows.order_by().values_list(
        "episode_id", "measure_id", "session_number", "score"
    ):
        scores[measure_id, episode_id].append((session, score))
    early = {
        key: value
        for key, found in scores.items()
        if key[0] in alliance_ids and (value := early_alliance(found)) is not None
    }
    lines = []
    for outcome_id in outcome_ids:
        lower = measure(outcome_id).direction == Direction.LOWER_IS_BETTER
        change = {
            episode: value
            for (measure_id, episode), found in scores.items()
            if measure_id == outcome_id and (value := improvement(found, lower)) is not None
        }
        for alliance_id in alliance_ids:
            both = [
                (a, change[episode])
                for (measure_id, episode), a in early.items()
                if measure_id == alliance_id and episode in change
            ]
            if not both:
                continue
            names = short_name(alliance_id), short_name(outcome_id)
            try:
                found = correlation([a for a, _ in both], [c for _, c in both])
            except ValueError:
                found = None
            n, episodes = len(both), show.count(len(both)).text
            if found is None or n < MIN_EPISODES:
                lines.append(Line(*names, n=n, episodes=episodes, shown=False))
                continue
            ci = f"{_r(found.ci_low)} – {_r(found.ci_high)}"
            lines.append(Line(*names, n, episodes, shown=True, r=_r(found.r), ci=ci))
    return lines


def meta_analysis() -> dict[str, str | int]:
    """The meta-analytic figure shown beside the practice's, with its source."""
    return {
        "r": _r(META_R),
        "ci": f"{_r(META_CI[0])} – {_r(META_CI[1])}",
        "source": META_SOURCE,
        "early": EARLY_SESSIONS,
        "minimum": MIN_EPISODES,
    }
