"""Which goals an answer may rate: the goal-progress and GAS items are the episode's goals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ally.change.goals import MEASURE as PROGRESS
from ally.scoring import Problem
from ally.web.collect.models import Administration
from ally.web.goals.models import Goal

GAS = "gas"
RATES_GOALS = frozenset({PROGRESS, GAS})
"""Measures whose item N is the episode's goal N."""


def goal_answer_problems(
    episode_id: int,
    measure_id: str,
    answers: Mapping[int, float | None] | Sequence[float | None],
    *,
    open_only: bool = True,
) -> list[Problem]:
    """A problem for each answer to a goal the episode does not have (or, with `open_only`, has
    closed): a rating must be of a goal the client has set."""
    if measure_id not in RATES_GOALS:
        return []
    pairs = answers.items() if isinstance(answers, Mapping) else enumerate(answers, start=1)
    given = [int(number) for number, value in pairs if value is not None]
    goals = Goal.objects.filter(episode_id=episode_id)
    if open_only:
        goals = goals.filter(closed_at__isnull=True)
    known = set(goals.values_list("number", flat=True))
    return [
        Problem(
            number,
            "not_a_goal",
            f"goal {number} is not an open goal of this episode; rate only its open goals "
            f"({', '.join(map(str, sorted(known))) or 'none set yet'})",
        )
        for number in given
        if number not in known
    ]


def goal_items(administration: Administration) -> dict[int, str] | None:
    """For a form that rates the client's goals: its open goals by number, in their words in
    force (an empty dict when none is set yet). None for any other form."""
    if administration.measure_id not in RATES_GOALS:
        return None
    goals = Goal.objects.filter(episode_id=administration.episode_id, closed_at__isnull=True)
    shown = {}
    for goal in goals.prefetch_related("wordings").order_by("number"):
        wordings = sorted(goal.wordings.all(), key=lambda w: w.version)
        shown[goal.number] = wordings[-1].text if wordings else ""
    return shown
