"""The practice's alliance–outcome correlation, beside the meta-analytic one.

Defined as: over episodes, the Pearson correlation of the early alliance (the mean of the
client-rated alliance totals at sessions 1 to 3) with the improvement of the outcome from its
score at session 1 to its last score at a later session than 3 (first minus last when lower is
better, so a positive r means a better early alliance went with more improvement). Its 95%
interval is Fisher's z ± 1.96/√(n − 3) (Fisher 1921, Metron 1:3-32).

Flückiger, Del Re, Wampold & Horvath (2018), Psychotherapy 55(4):316-340: r = .278, 95% CI
[.256, .299], over 295 studies of face-to-face psychotherapy; most of them, like this figure,
relate an early alliance to the end-of-treatment outcome or its change.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

EARLY_SESSIONS = 3
"""The early alliance is the mean of sessions 1 to EARLY_SESSIONS."""
MIN_EPISODES = 20
"""Below this many episodes the correlation is not shown: its 95% interval would span about
.9 of the −1 to 1 range, which says nothing about the practice."""
META_R = 0.278
META_CI = (0.256, 0.299)
META_SOURCE = "Flückiger, Del Re, Wampold & Horvath (2018), Psychotherapy 55:316-340"


@dataclass(frozen=True)
class Correlation:
    r: float
    n: int
    ci_low: float
    ci_high: float
    level: float = 0.95


def early_alliance(
    scores: Iterable[tuple[int, float]], early: int = EARLY_SESSIONS
) -> float | None:
    """Mean of the alliance scores at sessions 1..early (None when there is none)."""
    found = [score for session, score in scores if 1 <= session <= early]
    return sum(found) / len(found) if found else None


def improvement(
    scores: Iterable[tuple[int, float]], lower_is_better: bool, early: int = EARLY_SESSIONS
) -> float | None:
    """Outcome at session 1 minus the last score after session `early` (sign: better > 0)."""
    by_session = dict(sorted(scores))
    later = [s for s in by_session if s > early]
    if 1 not in by_session or not later:
        return None
    change = by_session[max(later)] - by_session[1]
    return -change if lower_is_better else change


def correlation(x: Sequence[float], y: Sequence[float], level: float = 0.95) -> Correlation:
    """Pearson's r with Fisher's z interval; needs at least 4 pairs with spread in both."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = len(a)
    if n != len(b):
        raise ValueError(f"x has {n} values, y {len(b)}")
    if n < 4 or a.std() == 0 or b.std() == 0:
        raise ValueError("a correlation with an interval needs 4 or more pairs that vary")
    r = float(np.corrcoef(a, b)[0, 1])
    half = NormalDist().inv_cdf(0.5 + level / 2) / math.sqrt(n - 3)
    z = math.atanh(min(max(r, -0.999999), 0.999999))
    return Correlation(r, n, math.tanh(z - half), math.tanh(z + half), level)
