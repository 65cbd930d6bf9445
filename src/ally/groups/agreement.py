"""Agreement within groups and the share of a score that belongs to the group.

ICC(1) and ICC(2) from a one-way ANOVA of members within groups of unequal size, as Bliese's R
package `multilevel` computes them (functions ICC1 and ICC2; Bliese 2000, in Klein & Kozlowski,
Multilevel Theory, Research, and Methods in Organizations, pp. 349-381; Bartko 1976, Psychol Bull
83:762):

    ICC(1) = (MSB - MSW) / (MSB + (k - 1) * MSW)     k = N / G, the mean group size
    ICC(2) = (MSB - MSW) / MSB                        the reliability of the group means

`multilevel`'s ICC1 takes k from the ANOVA table as (df_within + df_between + 1) /
(df_between + 1), which is N / G: the plain mean group size, not the adjusted size of Snedecor &
Cochran. With equal groups both equal Shrout & Fleiss' (1979) ICC(1,1) and ICC(1,k).

rwg(j) (James, Demaree & Wolf 1984, J Appl Psychol 69:85) and AD_M (Burke, Finkelstein & Dusig
1999, Organ Res Methods 2:49) per group, as `multilevel`'s rwg.j and ad.m: members with a missing
item are left out; a group of one member has neither; the null is the uniform ("rectangular")
distribution over A answer options, variance (A^2 - 1) / 12, and a mean item variance above it
counts as no agreement (rwg(j) = 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True)
class OneWay:
    """The one-way ANOVA of a score with members within groups, and the two ICCs from it."""

    groups: int
    members: int
    mean_group_size: float
    between: float
    """MSB, the mean square between groups."""
    within: float
    """MSW, the mean square within groups."""
    icc1: float
    icc2: float


def _codes(groups: Sequence[object] | ArrayLike) -> tuple[NDArray[np.intp], int]:
    labels = np.asarray(groups, dtype=object)
    _, codes = np.unique(labels.astype(str), return_inverse=True)
    return codes.astype(np.intp), int(codes.max()) + 1 if len(codes) else 0


def one_way(values: ArrayLike, groups: Sequence[object] | ArrayLike) -> OneWay:
    """ICC(1) and ICC(2) of `values` (one per member) by `groups` (one label per member).

    Missing values (NaN) are left out with their member, as R's aov does."""
    x = np.asarray(values, dtype=np.float64)
    labels = np.asarray(groups, dtype=object)
    if x.shape != labels.shape or x.ndim != 1:
        raise ValueError("give one value and one group for each member")
    keep = ~np.isnan(x)
    x, (codes, g) = x[keep], _codes(labels[keep])
    n = len(x)
    if g < 2 or n <= g:
        raise ValueError(
            f"{g} groups and {n} members with a value: an ICC needs at least 2 groups and more "
            "members than groups"
        )
    sizes = np.bincount(codes, minlength=g).astype(np.float64)
    means = np.bincount(codes, weights=x, minlength=g) / sizes
    grand = x.mean()
    msb = float((sizes * (means - grand) ** 2).sum() / (g - 1))
    msw = float(((x - means[codes]) ** 2).sum() / (n - g))
    k = n / g
    # Every value alike (no variance within or between groups): 0 / 0, NaN as in R.
    spread = msb + (k - 1) * msw
    return OneWay(
        groups=g,
        members=n,
        mean_group_size=k,
        between=msb,
        within=msw,
        icc1=(msb - msw) / spread if spread > 0 else float("nan"),
        icc2=(msb - msw) / msb if msb > 0 else float("nan"),
    )


def uniform_variance(options: int) -> float:
    """The variance of a uniform answer over `options` equally spaced options: (A^2 - 1) / 12."""
    if options < 2:
        raise ValueError(f"a scale has at least 2 answer options, not {options}")
    return (options**2 - 1) / 12


@dataclass(frozen=True)
class GroupAgreement:
    """Agreement among one group's members over J items."""

    group: str
    n: int
    """Members with every item answered."""
    rwg_j: float
    ad_m: float


def agreement(
    items: ArrayLike, groups: Sequence[object] | ArrayLike, options: int
) -> list[GroupAgreement]:
    """rwg(j) and AD_M for each group of `items` (members x J items, NaN = missing)."""
    x = np.asarray(items, dtype=np.float64)
    if x.ndim == 1:
        x = x.reshape(-1, 1)
    labels = np.asarray(groups, dtype=object)
    if x.shape[0] != labels.shape[0]:
        raise ValueError("give one row of items and one group for each member")
    null = uniform_variance(options)
    complete = ~np.isnan(x).any(axis=1)
    found = []
    for label in sorted({str(v) for v in labels[complete]}):
        rows = x[complete & (labels.astype(str) == label)]
        n, j = rows.shape
        if n < 2:
            found.append(GroupAgreement(label, n, float("nan"), float("nan")))
            continue
        share = min(float(rows.var(axis=0, ddof=1).mean()), null) / null
        rwg_j = j * (1 - share) / (j * (1 - share) + share)
        ad_m = float(np.abs(rows - rows.mean(axis=0)).mean(axis=0).mean())
        found.append(GroupAgreement(label, n, rwg_j, ad_m))
    return found
