"""Progress on each of a client's own goals: its first and last rating and whether the change
is reliable.

A goal is rated 0-10 at the sessions the plan says; each goal is compared with itself, from its
first rating (usually when it was set) to its latest. A change of at least `threshold` points
counts as reliable progress (or reliable deterioration). The default, 3 points, is the whole
number above the 2.45 points usually cited as the reliable change of a goal rated 0-10 in
Goal-Based Outcomes (Edbrooke-Childs J et al. 2015, CORC data) [U: the paper was not re-read;
hence a threshold the user sets].

One rule for one episode and for many: rows are sorted by episode and session, episodes are
segments given by their first row, and goals are columns (NaN = not rated at that session).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

MEASURE = "goal-progress"
"""The measure whose items 1..GOALS are an episode's goals 1..GOALS."""
GOALS = 5
"""At most five goals per episode."""
THRESHOLD = 3.0
"""Points of change on one goal that count as reliable (see the module's note)."""
PROGRESS = "progress"
NO_CHANGE = "no reliable change"
WORSE = "deterioration"

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Objects = npt.NDArray[np.object_]


@dataclass(frozen=True)
class GoalCourse:
    """Per segment (an episode's ratings) and goal: segments × goals."""

    first: Floats
    last: Floats
    change: Floats
    reliable: Objects
    """`progress`, `no reliable change`, `deterioration`; None with fewer than two ratings."""


def _ends(starts: Ints, rows: int) -> Ints:
    return np.append(starts[1:], rows).astype(np.int64)


def goal_course(
    ratings: npt.ArrayLike, starts: npt.ArrayLike, threshold: float = THRESHOLD
) -> GoalCourse:
    """The first and last rating of each goal in each segment (rows `starts[k]` up to the next
    start), their change, and whether it is reliable at `threshold` points."""
    if not threshold > 0:
        raise ValueError(
            f"the threshold of reliable goal progress must be above 0, not {threshold}"
        )
    values = np.atleast_2d(np.asarray(ratings, dtype=np.float64))
    first_rows = np.asarray(starts, dtype=np.int64)
    rows, goals = values.shape
    ends = _ends(first_rows, rows)
    rated = ~np.isnan(values)
    index = np.arange(rows)[:, None]
    # Per segment and goal, the first and last row that rates it (rows sorted by session).
    first_at = np.where(rated, index, rows)
    last_at = np.where(rated, index, -1)
    first = np.full((len(first_rows), goals), np.nan)
    last = np.full_like(first, np.nan)
    count = np.zeros((len(first_rows), goals), dtype=np.int64)
    nonempty = ends > first_rows
    if rows and nonempty.any():
        s = first_rows[nonempty]
        lo = np.minimum.reduceat(first_at, s, axis=0)
        hi = np.maximum.reduceat(last_at, s, axis=0)
        n = np.add.reduceat(rated.astype(np.int64), s, axis=0)
        padded = np.vstack([values, np.full((1, goals), np.nan)])
        cols = np.arange(goals)[None, :]
        first[nonempty] = padded[np.where(lo < rows, lo, rows), cols]
        last[nonempty] = padded[np.where(hi >= 0, hi, rows), cols]
        count[nonempty] = n
    change = last - first
    reliable = np.full(first.shape, None, dtype=object)
    two = count >= 2
    reliable[two] = NO_CHANGE
    reliable[two & (change >= threshold - 1e-9)] = PROGRESS
    reliable[two & (change <= -threshold + 1e-9)] = WORSE
    return GoalCourse(
        first=first, last=last, change=np.where(two, change, np.nan), reliable=reliable
    )
