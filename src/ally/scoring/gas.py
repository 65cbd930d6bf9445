"""Goal Attainment Scaling: each goal rated on five levels, summarised as one T-score.

Kiresuk TJ, Sherman RE (1968). Goal attainment scaling: a general method for evaluating
comprehensive community mental health programs. Community Mental Health Journal 4(6):443-453.
The formula, with the correlation between goals taken as rho = 0.3, as Kiresuk and Sherman
assume and as Turner-Stokes (2009, Clin Rehabil 23:362-370, with its erratum) restates it:

    T = 50 + 10 * sum(w_i * x_i) / sqrt((1 - rho) * sum(w_i^2) + rho * (sum(w_i))^2)

Levels x_i: -2 much less than expected, -1 somewhat less, 0 the expected outcome, +1 somewhat
more, +2 much more than expected. All goals at their expected outcome give 50, and T has an SD
of about 10 across clients when the goals are set well.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

RHO = 0.3
"""The assumed correlation between one client's goals (Kiresuk & Sherman 1968)."""
LEVELS = (-2, -1, 0, 1, 2)
"""The five levels of attainment of one goal."""

Floats = npt.NDArray[np.float64]


def t_scores(
    levels: npt.ArrayLike, weights: npt.ArrayLike | None = None, rho: float = RHO
) -> Floats:
    """The T-score of each row of levels (rows × goals, NaN = a goal not rated), goals weighted
    by `weights` (one per goal; default equal). NaN for a row without any rated goal."""
    x = np.atleast_2d(np.asarray(levels, dtype=np.float64))
    w = np.ones(x.shape[1]) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (x.shape[1],):
        raise ValueError(f"give one weight per goal: {x.shape[1]} goals, {w.size} weights")
    if (w < 0).any() or not np.isfinite(w).all():
        raise ValueError("goal weights must be numbers of 0 or more")
    rated = ~np.isnan(x)
    weighted = np.where(rated, w, 0.0)
    numerator = (weighted * np.where(rated, x, 0.0)).sum(axis=1)
    spread = (1 - rho) * (weighted**2).sum(axis=1) + rho * weighted.sum(axis=1) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(spread > 0, 50 + 10 * numerator / np.sqrt(spread), np.nan)


def t_score(
    levels: Sequence[float | None], weights: Sequence[float] | None = None, rho: float = RHO
) -> float | None:
    """The T-score of one client's goals; goals rated None are left out. None when no goal is
    rated (or every rated goal weighs 0)."""
    row: list[Any] = [np.nan if level is None else level for level in levels]
    if any(level is not None and level not in LEVELS for level in levels):
        raise ValueError(f"a goal's level is one of {', '.join(map(str, LEVELS))}")
    value = float(t_scores([row], weights, rho)[0])
    return None if np.isnan(value) else value


def t_score_range(goals: int, rho: float = RHO) -> tuple[float, float]:
    """The lowest and highest T-score of up to `goals` equally weighted goals (all at -2, all at
    +2: the more goals, the wider)."""
    lows = [float(t_scores([[LEVELS[0]] * n], rho=rho)[0]) for n in range(1, goals + 1)]
    highs = [float(t_scores([[LEVELS[-1]] * n], rho=rho)[0]) for n in range(1, goals + 1)]
    return min(lows), max(highs)
