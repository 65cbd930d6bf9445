"""What the client page, the API and the export show of an episode's goals: each goal with its
wordings, its ratings by session, its course under `ally.change.goals`, the GAS T-scores, and
the client's and the clinician's goal agreement side by side.

Everything is read through the member's scope; the wordings only where the member may see
identifying rows (a researcher sees goals by number, with their ratings).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ally.change.goals import MEASURE as PROGRESS
from ally.change.goals import THRESHOLD, goal_course
from ally.scoring.gas import t_score
from ally.web.collect.models import Respondent, Response
from ally.web.goals.checks import GAS
from ally.web.goals.models import MOST_GOALS, Goal, GoalExercise, GoalWording
from ally.web.practice.models import Episode, Membership
from ally.web.privacy.keys import KeyRing
from ally.web.privacy.when import iso
from ally.web.scoping import scoped

AGREEMENT = "goal-agreement"


@dataclass(frozen=True)
class Wording:
    version: int
    text: str
    written_at: dt.datetime
    by_client: bool
    author: str
    """The member's display name; "" when the client wrote it."""


@dataclass(frozen=True)
class Rating:
    session: int | None
    """The session's number (None for a form given outside a numbered session)."""
    at: dt.datetime
    value: float


@dataclass
class GoalView:
    goal: Goal
    wordings: list[Wording]
    ratings: list[Rating] = field(default_factory=list)
    levels: list[Rating] = field(default_factory=list)
    """GAS levels, -2..+2."""
    first: float | None = None
    last: float | None = None
    change: float | None = None
    reliable: str | None = None

    @property
    def number(self) -> int:
        return self.goal.number

    @property
    def text(self) -> str | None:
        """The wording in force; None where the member may not see the client's words."""
        return self.wordings[-1].text if self.wordings else None

    @property
    def latest_level(self) -> float | None:
        return self.levels[-1].value if self.levels else None


@dataclass(frozen=True)
class Attainment:
    session: int | None
    at: dt.datetime
    t_score: float | None
    """Kiresuk-Sherman T with the goals' weights."""
    levels: dict[int, int]


@dataclass(frozen=True)
class Agreement:
    session: int | None
    client: float | None
    clinician: float | None

    @property
    def gap(self) -> float | None:
        """Client minus clinician: below 0, the clinician sees more agreement than the client."""
        if self.client is None or self.clinician is None:
            return None
        return self.client - self.clinician


@dataclass
class Goals:
    episode: Episode
    goals: list[GoalView]
    attainment: list[Attainment]
    agreement: list[Agreement]
    exercise: GoalExercise | None
    exercise_words: dict[str, str] | None
    threshold: float = THRESHOLD

    @property
    def open_goals(self) -> list[GoalView]:
        return [g for g in self.goals if g.goal.is_open]

    @property
    def can_add(self) -> bool:
        return len(self.goals) < MOST_GOALS

    @property
    def latest_agreement(self) -> Agreement | None:
        both = [a for a in self.agreement if a.gap is not None]
        return both[-1] if both else (self.agreement[-1] if self.agreement else None)


def _rows(model: Any, membership: Membership | None) -> Any:
    """What the member may see; everything for a command run on the server (None)."""
    return model.objects.all() if membership is None else scoped(model, membership)


def _responses(membership: Membership | None, episode: Episode, measure_id: str) -> list[Response]:
    return list(
        _rows(Response, membership)
        .filter(administration__episode=episode, administration__measure_id=measure_id)
        .select_related("administration__session", "administration__episode")
        .prefetch_related("amendments")
        .order_by("administration__session__number", "recorded_at", "pk")
    )


def _current(response: Response, keys: KeyRing) -> dict[str, float | None]:
    amendments = sorted(response.amendments.all(), key=lambda a: (a.amended_at, a.pk))
    current = amendments[-1] if amendments else response
    return dict(current.open_answers(keys.key(response.administration.episode.client_id)))


def _session(response: Response) -> int | None:
    session = response.administration.session
    return session.number if session is not None else None


def episode_goals(
    membership: Membership | None, episode: Episode, threshold: float = THRESHOLD
) -> Goals:
    """The episode's goals as `membership` may see them (None: all of them)."""
    goals = list(_rows(Goal, membership).filter(episode=episode).order_by("number"))
    wordings: dict[int, list[Wording]] = {g.pk: [] for g in goals}
    for w in (
        _rows(GoalWording, membership)
        .filter(goal__episode=episode)
        .select_related("written_by__user")
        .order_by("goal", "version")
    ):
        wordings[w.goal_id].append(
            Wording(
                version=w.version,
                text=w.text,
                written_at=w.written_at,
                by_client=w.written_by_id is None,
                author=w.written_by.user.display_name if w.written_by else "",
            )
        )
    views = {g.number: GoalView(goal=g, wordings=wordings[g.pk]) for g in goals}

    keys = KeyRing()  # the client's data key, read once for every rating
    for response in _responses(membership, episode, PROGRESS):
        for key, value in _current(response, keys).items():
            if value is not None and int(key) in views:
                views[int(key)].ratings.append(
                    Rating(_session(response), response.recorded_at, float(value))
                )
    matrix = np.full((1, MOST_GOALS), np.nan)
    if views:
        longest = max(len(v.ratings) for v in views.values())
        matrix = np.full((max(longest, 1), MOST_GOALS), np.nan)
        for number, view in views.items():
            # Each goal's own ratings in order; the rule reads first and last per column.
            for row, rating in enumerate(view.ratings):
                matrix[row, number - 1] = rating.value
    course = goal_course(matrix, [0], threshold)
    for number, view in views.items():
        k = number - 1
        view.first = _value(course.first[0, k])
        view.last = _value(course.last[0, k])
        view.change = _value(course.change[0, k])
        view.reliable = course.reliable[0, k]

    weights = [1.0] * MOST_GOALS
    for g in goals:
        if g.weight is not None:
            weights[g.number - 1] = g.weight
    attainment = []
    for response in _responses(membership, episode, GAS):
        answers = _current(response, keys)
        levels = {int(k): int(v) for k, v in answers.items() if v is not None}
        by_goal: list[float | None] = [levels.get(n) for n in range(1, MOST_GOALS + 1)]
        at = Rating(_session(response), response.recorded_at, 0.0)
        for number, level in levels.items():
            if number in views:
                views[number].levels.append(Rating(at.session, at.at, float(level)))
        attainment.append(
            Attainment(at.session, at.at, t_score(by_goal, weights), dict(sorted(levels.items())))
        )

    by_session: dict[int | None, dict[str, float]] = {}
    for response in _responses(membership, episode, AGREEMENT):
        rater = response.administration.respondent
        side = "clinician" if rater == Respondent.CLINICIAN else "client"
        by_session.setdefault(_session(response), {})[side] = response.current().total
    agreement = [
        Agreement(session, sides.get("client"), sides.get("clinician"))
        for session, sides in sorted(by_session.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
    ]

    exercise = _rows(GoalExercise, membership).filter(episode=episode).order_by("-version").first()
    return Goals(
        episode=episode,
        goals=list(views.values()),
        attainment=attainment,
        agreement=agreement,
        exercise=exercise,
        exercise_words=exercise.words() if exercise is not None else None,
        threshold=threshold,
    )


def _value(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def export_goals(membership: Membership | None, episode: Episode) -> dict[str, Any]:
    """The episode's goals for the client's data export: every wording, rating and level."""
    found = episode_goals(membership, episode)

    exercise = found.exercise
    return {
        "goals": [
            {
                "number": g.number,
                "set_at": iso(g.goal.created_at),
                "closed_at": iso(g.goal.closed_at),
                "gas_weight": g.goal.weight,
                "wordings": [
                    {
                        "text": w.text,
                        "written_at": iso(w.written_at),
                        "written_by": "client" if w.by_client else "practitioner",
                    }
                    for w in g.wordings
                ],
                "progress": [{"session": r.session, "rating": r.value} for r in g.ratings],
                "gas_levels": [{"session": r.session, "level": r.value} for r in g.levels],
                "first": g.first,
                "last": g.last,
                "reliable": g.reliable,
            }
            for g in found.goals
        ],
        "goal_attainment": [
            {"session": a.session, "t_score": a.t_score, "levels": a.levels}
            for a in found.attainment
        ],
        "ideal_life_exercise": None
        if exercise is None
        else {
            "written_at": iso(exercise.written_at),
            "now": exercise.now,
            **(found.exercise_words or {}),
        },
    }
