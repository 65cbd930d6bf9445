"""Intraclass correlations in the six forms of Shrout & Fleiss (1979), Psychol Bull 86:420-428.

In groups, ICC(1) says how much of a score belongs to the group rather than the member; SPECS
section 6 asks for it before group means are interpreted (Burlingame et al. 2018).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class MeanSquares:
    """The two-way ANOVA of n targets rated by k judges."""

    n: int
    k: int
    between_targets: float
    within_targets: float
    between_judges: float
    residual: float


@dataclass(frozen=True)
class Icc:
    """ICC(1), ICC(2), ICC(3) for one rating and their means of k ratings (Shrout & Fleiss)."""

    icc1: float
    """One-way random effects: each target rated by different judges."""
    icc2: float
    """Two-way random effects, absolute agreement."""
    icc3: float
    """Two-way mixed effects, consistency."""
    icc1k: float
    icc2k: float
    icc3k: float
    squares: MeanSquares


def mean_squares(ratings: ArrayLike) -> MeanSquares:
    """Mean squares of a complete targets x judges matrix (no missing ratings)."""
    x = np.asarray(ratings, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise ValueError(
            "ratings must be a matrix of at least 2 targets (rows) x 2 judges (columns)"
        )
    if np.isnan(x).any():
        raise ValueError("ratings has missing values; the Shrout & Fleiss forms need every rating")
    n, k = x.shape
    grand = x.mean()
    ss_targets = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_judges = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_total = ((x - grand) ** 2).sum()
    ss_within = ss_total - ss_targets
    ss_residual = ss_within - ss_judges
    return MeanSquares(
        n=n,
        k=k,
        between_targets=ss_targets / (n - 1),
        within_targets=ss_within / (n * (k - 1)),
        between_judges=ss_judges / (k - 1),
        residual=ss_residual / ((n - 1) * (k - 1)),
    )


def icc(ratings: ArrayLike) -> Icc:
    """All six forms from one matrix (Shrout & Fleiss 1979, Table 2)."""
    ms = mean_squares(ratings)
    n, k = ms.n, ms.k
    bms, wms, jms, ems = ms.between_targets, ms.within_targets, ms.between_judges, ms.residual
    return Icc(
        icc1=(bms - wms) / (bms + (k - 1) * wms),
        icc2=(bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n),
        icc3=(bms - ems) / (bms + (k - 1) * ems),
        icc1k=(bms - wms) / bms,
        icc2k=(bms - ems) / (bms + (jms - ems) / n),
        icc3k=(bms - ems) / bms,
        squares=ms,
    )
