"""Reliable change: sample statistics, the six pre-post indices and the improvement rule.

Formulas follow the R package clinicalsignificance (Claus, Wager & Bonnet 2024, JSS 111(1);
github benediktclaus/clinicalsignificance, R/calc_rci.R and R/package-utils.R), which in turn
cites the original papers named on each method. See SPECS.md sections 1.1 and 1.2.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from statistics import NormalDist
from typing import cast

from ally.change.generic import Logical, N, Numeric

Z_975 = NormalDist().inv_cdf(0.975)
"""The two-tailed 5% normal quantile, 1.959963984540054 (R's qnorm(0.975))."""


class Method(StrEnum):
    JT = "jt"
    """Jacobson & Truax (1991), JCCP 59:12."""
    GLN = "gln"
    """Gulliksen, Lord & Novick, in Hsu (1989, 1995)."""
    HLL = "hll"
    """Hsu, Linn & Lord, in Hsu (1989)."""
    EN = "en"
    """Edwards & Nunnally in Speer's (1992) form."""
    NK = "nk"
    """Nunnally & Kotsch (1983): needs the reliability at post."""
    HA = "ha"
    """Hageman & Arrindell (1999), BRAT 37:1169: one-tailed, with true-score cut-offs."""


@dataclass(frozen=True)
class SampleStats:
    """Complete-case statistics of a pre-post sample (SD with n - 1; Pearson r of pre and post)."""

    n: int
    m_pre: float
    sd_pre: float
    m_post: float
    sd_post: float
    r12: float


def sample_stats(pre: Sequence[float], post: Sequence[float]) -> SampleStats:
    """Statistics of paired pre and post scores; the caller drops incomplete pairs first."""
    if len(pre) != len(post):
        raise ValueError(
            f"pre has {len(pre)} scores and post has {len(post)}; pass one pre and one post "
            "score per person (complete cases only)"
        )
    if len(pre) < 3:
        raise ValueError(
            f"only {len(pre)} complete pre-post pairs; reliable change needs at least 3 to "
            "estimate the sample SD and the pre-post correlation"
        )
    sd_pre = statistics.stdev(pre)
    sd_post = statistics.stdev(post)
    # A constant column has no correlation; HA is the only method that uses r12.
    r12 = statistics.correlation(pre, post) if sd_pre > 0 and sd_post > 0 else math.nan
    return SampleStats(
        n=len(pre),
        m_pre=statistics.fmean(pre),
        sd_pre=sd_pre,
        m_post=statistics.fmean(post),
        sd_post=sd_post,
        r12=r12,
    )


def sem(sd: float, reliability: float) -> float:
    """Standard error of measurement, SD·√(1 − r) (Jacobson & Truax 1991)."""
    return sd * math.sqrt(1 - reliability)


def s_diff(sd: float, reliability: float) -> float:
    """Standard error of the difference of two scores, √(2·SEM²) (Jacobson & Truax 1991)."""
    return math.sqrt(2 * sem(sd, reliability) ** 2)


def reliable_change_value(sd: float, reliability: float, z: float = Z_975) -> float:
    """The smallest reliable change in score points, z·SD·√(2(1 − r))."""
    # suddengains' define_crit1_cutoff() uses the rounded z = 1.96; pass it to match its output.
    return z * s_diff(sd, reliability)


def cronbach_alpha(item_variances: Sequence[float], total_variance: float) -> float:
    """Internal consistency, k/(k − 1)·(1 − Σ item variances / total variance) (Cronbach 1951)."""
    k = len(item_variances)
    if k < 2:
        raise ValueError("Cronbach's alpha needs at least 2 items")
    if not total_variance > 0:
        raise ValueError("the total score does not vary, so its reliability cannot be estimated")
    return k / (k - 1) * (1 - sum(item_variances) / total_variance)


def ha_reliability(sd: float, sem_: float) -> float:
    """Hageman & Arrindell's reliability of a distribution, (SD² − SEM²)/SD²."""
    return (sd**2 - sem_**2) / sd**2


@dataclass(frozen=True)
class ReliableChange:
    """A reliable-change index fitted to one sample; `index` applies it to people or columns."""

    method: Method
    stats: SampleStats
    reliability: float
    reliability_post: float
    """Used by NK only; equals `reliability` unless given."""
    significance_level: float = 0.05

    @property
    def critical(self) -> float:
        """The |index| a change must exceed: 1.959964 two-tailed, 1.644854 one-tailed for HA."""
        # clinicalsignificance v3 cs_distribution(): qnorm(1 - alpha / 2), for HA qnorm(1 - alpha).
        # SPECS writes 1.96 and 1.645; the exact quantile differs only for |index| in
        # (1.959964, 1.96], and is what the reference package computes.
        tail = self.significance_level if self.method is Method.HA else self.significance_level / 2
        return NormalDist().inv_cdf(1 - tail)

    @property
    def sem(self) -> float:
        return sem(self.stats.sd_pre, self.reliability)

    @property
    def s_diff(self) -> float:
        return s_diff(self.stats.sd_pre, self.reliability)

    @property
    def se_prediction(self) -> float:
        """SD_pre·√(1 − r²), the error of predicting post from pre (Hsu 1989)."""
        return self.stats.sd_pre * math.sqrt(1 - self.reliability**2)

    @property
    def r_dd(self) -> float:
        """Reliability of the difference score (Hageman & Arrindell 1999, eq. in SPECS 1.2)."""
        s = self.stats
        r_xx1 = ha_reliability(s.sd_pre, self.sem)
        r_xx2 = ha_reliability(s.sd_post, self.sem)
        cross = 2 * s.sd_pre * s.sd_post * s.r12
        return (s.sd_pre**2 * r_xx1 + s.sd_post**2 * r_xx2 - cross) / (
            s.sd_pre**2 + s.sd_post**2 - cross
        )

    def index(self, pre: N, post: N) -> N:
        """The per-person index; positive when the score rose."""
        s, r = self.stats, self.reliability
        match self.method:
            case Method.JT:
                value = (post - pre) / self.s_diff
            case Method.GLN:
                # Regression to the pre mean (Hsu 1995, JCCP 63:141).
                value = ((post - s.m_pre) - r * (pre - s.m_pre)) / self.se_prediction
            case Method.HLL:
                # As GLN, but the post score is centred on the post mean.
                value = ((post - s.m_post) - r * (pre - s.m_pre)) / self.se_prediction
            case Method.EN:
                # Distance of post from the estimated true pre score, in SEM (Speer 1992, JCCP
                # 60:402); the package divides by SEM, not S_diff (SPECS 1.2 caveat 2).
                value = (post - (r * (pre - s.m_pre) + s.m_pre)) / self.sem
            case Method.NK:
                scale = math.sqrt(
                    r**2 * s.sd_pre**2 * (1 - r) + s.sd_pre**2 * (1 - self.reliability_post)
                )
                value = (post - (r * (pre - s.m_pre) + s.m_pre)) / scale
            case Method.HA:
                r_dd = self.r_dd
                value = ((post - pre) * r_dd + (s.m_post - s.m_pre) * (1 - r_dd)) / (
                    math.sqrt(r_dd) * math.sqrt(2 * self.sem**2)
                )
        return cast(N, value)


@dataclass(frozen=True)
class PublishedChange:
    """A published reliable change value in points (PHQ-9: 6 in the NHS Talking Therapies
    manual): a change of `points` or more is reliable.

    Its index is the change over S_diff = points / z, so that, as with Jacobson & Truax, an index
    beyond ±z is reliable.
    """

    points: float
    z: float = Z_975

    @property
    def s_diff(self) -> float:
        return self.points / self.z

    @property
    def critical(self) -> float:
        # "points or more": a change of exactly `points` must count, whatever the rounding of
        # points / (points / z).
        return self.z * (1 - 1e-9)

    def index(self, pre: N, post: N) -> N:
        """Change over S_diff; positive when the score rose."""
        return cast(N, (post - pre) / self.s_diff)


ChangeRule = ReliableChange | PublishedChange
"""Either kind of reliable change: both give `index(pre, post)` and its `critical` value."""


def reliable_change(
    method: Method,
    stats: SampleStats,
    reliability: float,
    reliability_post: float | None = None,
    significance_level: float = 0.05,
) -> ReliableChange:
    """Fit a reliable-change index, checking that its constants exist for this sample."""
    for name, value in (("reliability", reliability), ("reliability_post", reliability_post)):
        if value is not None and not 0 <= value < 1:
            raise ValueError(f"{name} must be in [0, 1) but is {value}")
    if not 0 < significance_level < 1:
        raise ValueError(f"significance_level must be in (0, 1) but is {significance_level}")
    if not stats.sd_pre > 0:
        raise ValueError("the pre scores have no spread (SD 0), so no index can be computed")
    fitted = ReliableChange(
        method=Method(method),
        stats=stats,
        reliability=reliability,
        reliability_post=reliability if reliability_post is None else reliability_post,
        significance_level=significance_level,
    )
    if fitted.method is Method.HA and not fitted.r_dd > 0:
        raise ValueError(
            f"the reliability of the difference r_dd is {fitted.r_dd:.4f} (needs > 0), so the "
            "Hageman-Arrindell index is undefined for this sample; use another method"
        )
    return fitted


def is_improved(index: Numeric, direction_sign: int, critical: float) -> Logical:
    """Reliable improvement: direction·index > critical, strictly (SPECS 1.2)."""
    return cast(Logical, direction_sign * index > critical)


def is_deteriorated(index: Numeric, direction_sign: int, critical: float) -> Logical:
    """Reliable deterioration: direction·index < −critical, strictly (SPECS 1.2)."""
    return cast(Logical, direction_sign * index < -critical)
