"""Sudden gains and sudden losses (Tang & DeRubeis 1999, JCCP 67:894), vectorised over episodes.

Criteria and missing-data handling as in the R package suddengains (Wiedemann, Thew, Stott &
Ehlers 2020, PLOS ONE, doi:10.1371/journal.pone.0230276; R/identify_sg.R, R/identify_sl.R,
R/check_interval.R). For the interval from session n to n+1:
1. the gain is at least `cutoff` (e.g. a reliable change value);
2. the gain is at least `pct` (25%) of the pregain score;
3. mean(n−2, n−1, n) and mean(n+1, n+2, n+3) differ by more than t·pooled SD, with t the
   two-tailed critical value on n_pre + n_post − 2 df (Lutz et al. 2013's adjustment: 2.776,
   3.182 or 4.303 with 0, 1 or 2 of the six values missing).
Each window holds the three sessions around the gain, skipping missing values inside it; it needs
two present values, and criteria 1-2 need both sessions of the interval. So the first and last
intervals of a series are never analysable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ally.change.cutoffs import direction_sign
from ally.measures.schema import Direction

_WINDOW = 3
_ROWS_PER_CHUNK = 65_536
"""Bounds the memory of the temporary arrays to a few tens of MB whatever the input size."""


def _t_central_probability(t: float, df: int) -> float:
    """P(|T| ≤ t) for Student's t with integer df (Abramowitz & Stegun 26.7.3-26.7.4)."""
    theta = math.atan(t / math.sqrt(df))
    sin, cos = math.sin(theta), math.cos(theta)
    if df % 2 == 0:
        term, total = 1.0, 1.0
        for j in range(1, df // 2):
            term *= (2 * j - 1) / (2 * j) * cos**2
            total += term
        return sin * total
    if df == 1:
        return 2 * theta / math.pi
    term, total = cos, cos
    for j in range(1, (df - 1) // 2):
        term *= (2 * j) / (2 * j + 1) * cos**2
        total += term
    return 2 / math.pi * (theta + sin * total)


@cache  # a bisection: callers ask for the same few values on every series
def t_critical(alpha: float, df: int) -> float:
    """Two-tailed critical value of Student's t, |qt(alpha/2, df)| in R."""
    if not 0 < alpha < 1 or df < 1:
        raise ValueError(f"need 0 < alpha < 1 and df >= 1, got alpha={alpha}, df={df}")
    target = 1 - alpha
    low, high = 0.0, 1.0
    while _t_central_probability(high, df) < target:
        low, high = high, high * 2
    for _ in range(200):
        middle = (low + high) / 2
        if _t_central_probability(middle, df) < target:
            low = middle
        else:
            high = middle
        if high - low < 1e-13 * high:
            break
    return (low + high) / 2


@dataclass(frozen=True)
class SuddenChanges:
    """Per-interval results; column j is the interval from occasion j (pregain) to j + 1."""

    gains: NDArray[np.bool_]
    losses: NDArray[np.bool_]
    analysable: NDArray[np.bool_]
    """Whether every applied criterion could be evaluated (suddengains' non-NA intervals)."""

    @property
    def gain_counts(self) -> NDArray[np.intp]:
        counts: NDArray[np.intp] = np.count_nonzero(self.gains, axis=1)
        return counts

    @property
    def loss_counts(self) -> NDArray[np.intp]:
        counts: NDArray[np.intp] = np.count_nonzero(self.losses, axis=1)
        return counts


def _window_moments(
    present: NDArray[np.float64], filled: NDArray[np.float64], first: int, width: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Count, mean and sum of squared deviations over columns first..first+2 of each window."""
    columns = [slice(first + k, first + k + width) for k in range(_WINDOW)]
    count = sum((present[:, c] for c in columns), np.zeros_like(present[:, columns[0]]))
    total = sum((filled[:, c] for c in columns), np.zeros_like(present[:, columns[0]]))
    mean = total / np.maximum(count, 1)
    squares = sum(
        (present[:, c] * (filled[:, c] - mean) ** 2 for c in columns),
        np.zeros_like(present[:, columns[0]]),
    )
    return count, mean, squares


def sudden_changes(
    scores: ArrayLike,
    *,
    cutoff: float | None,
    direction: Direction | int,
    pct: float | None = 0.25,
    crit3: bool = True,
    alpha: float = 0.05,
    adjust_for_missing: bool = True,
    critical_value: float = 2.776,
) -> SuddenChanges:
    """Sudden gains and losses in a 2-D array (episodes × occasions, NaN = missing).

    A gain is a change in the better direction (a fall when lower is better); a loss mirrors it.
    `cutoff=None`, `pct=None` or `crit3=False` leave a criterion out. Without
    `adjust_for_missing`, criterion 3 uses `critical_value` whatever is missing.
    """
    if cutoff is None and pct is None and not crit3:
        raise ValueError("apply at least one criterion: cutoff, pct or crit3")
    if cutoff is not None and cutoff < 0:
        raise ValueError(f"cutoff is a size of change and must be >= 0, not {cutoff}")
    sign = direction_sign(direction)
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"scores must be 2-D (episodes × occasions), not {values.ndim}-D")
    rows, occasions = values.shape
    width = max(occasions - 1, 0)
    gains = np.zeros((rows, width), dtype=np.bool_)
    losses = np.zeros((rows, width), dtype=np.bool_)
    analysable = np.zeros((rows, width), dtype=np.bool_)
    if occasions < 4:
        return SuddenChanges(gains, losses, analysable)

    # Critical t by degrees of freedom 2..4 (both windows hold 2 or 3 values).
    by_df = np.full(_WINDOW * 2 - 1, np.nan)
    for df in range(2, _WINDOW * 2 - 1):
        by_df[df] = t_critical(alpha, df) if adjust_for_missing else critical_value
    # suddengains only tests the intervals 2->3 ... (last-2)->(last-1), 1-based.
    interval_ok = np.zeros(width, dtype=np.bool_)
    interval_ok[1 : occasions - 2] = True

    for start in range(0, rows, _ROWS_PER_CHUNK):
        block = values[start : start + _ROWS_PER_CHUNK]
        present = ~np.isnan(block)
        ok = np.broadcast_to(interval_ok, (block.shape[0], width)).copy()
        good_gain = np.ones_like(ok)
        good_loss = np.ones_like(ok)
        if cutoff is not None or pct is not None:
            ok &= present[:, :-1] & present[:, 1:]
            pregain = block[:, :-1]
            # The change in the better direction: pre - post when lower is better.
            improvement = sign * (block[:, 1:] - pregain)
            with np.errstate(invalid="ignore"):
                if cutoff is not None:
                    good_gain &= improvement >= cutoff
                    good_loss &= -improvement >= cutoff
                if pct is not None:
                    good_gain &= improvement >= pct * pregain
                    # suddengains codes the loss as pre - post <= pct·pre, which any rise meets;
                    # we mirror the gain: a rise of at least pct of the pregain score.
                    good_loss &= -improvement >= pct * pregain
        if crit3:
            pad = ((0, 0), (_WINDOW - 1, _WINDOW - 1))
            present_f = np.pad(present.astype(np.float64), pad)
            filled = np.pad(np.where(present, block, 0.0), pad)
            n_pre, mean_pre, ss_pre = _window_moments(present_f, filled, 0, width)
            n_post, mean_post, ss_post = _window_moments(present_f, filled, _WINDOW, width)
            windows_ok = (n_pre >= 2) & (n_post >= 2)
            ok &= windows_ok
            dof = np.where(windows_ok, n_pre + n_post - 2, 0).astype(np.intp)
            pooled_sd = np.sqrt((ss_pre + ss_post) / np.maximum(dof, 1))
            threshold = by_df[dof] * pooled_sd
            shift = sign * (mean_post - mean_pre)
            with np.errstate(invalid="ignore"):
                good_gain &= shift > threshold
                good_loss &= -shift > threshold
        rows_slice = slice(start, start + block.shape[0])
        analysable[rows_slice] = ok
        gains[rows_slice] = ok & good_gain
        losses[rows_slice] = ok & good_loss
    return SuddenChanges(gains, losses, analysable)


@dataclass(frozen=True)
class SeriesSuddenChanges:
    """Positions (0-based pregain occasions) of the sudden gains and losses in one series."""

    gains: tuple[int, ...]
    losses: tuple[int, ...]
    analysable: tuple[int, ...]


def sudden_changes_in_series(
    series: Sequence[float | None],
    *,
    cutoff: float | None,
    direction: Direction | int,
    pct: float | None = 0.25,
    crit3: bool = True,
    alpha: float = 0.05,
    adjust_for_missing: bool = True,
    critical_value: float = 2.776,
) -> SeriesSuddenChanges:
    """Sudden gains and losses in one person's session series (None or NaN = missing)."""
    row = [math.nan if value is None else float(value) for value in series]
    found = sudden_changes(
        np.asarray([row], dtype=np.float64).reshape(1, len(row)),
        cutoff=cutoff,
        direction=direction,
        pct=pct,
        crit3=crit3,
        alpha=alpha,
        adjust_for_missing=adjust_for_missing,
        critical_value=critical_value,
    )

    def positions(flags: NDArray[np.bool_]) -> tuple[int, ...]:
        return tuple(int(j) for j in np.flatnonzero(flags[0]))

    return SeriesSuddenChanges(
        gains=positions(found.gains),
        losses=positions(found.losses),
        analysable=positions(found.analysable),
    )
