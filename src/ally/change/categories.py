"""Jacobson & Truax outcome categories, per person and for a whole sample.

The rules follow clinicalsignificance's create_summary_table.cs_combined() (v3) and, for
Hageman & Arrindell, its .calc_recovered_ha() (SPECS 1.1-1.2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from ally.change.cutoffs import (
    CutoffType,
    Population,
    cs_indiv,
    cutoff,
    direction_sign,
    is_clinical,
    is_functional,
    true_score_cutoff,
)
from ally.change.generic import Logical, Numeric
from ally.change.reliable import (
    ChangeRule,
    Method,
    ReliableChange,
    is_deteriorated,
    is_improved,
    reliable_change,
    sample_stats,
)
from ally.measures.schema import Direction


class Category(StrEnum):
    RECOVERED = "recovered"
    """Reliably improved and crossed from the clinical to the functional side."""
    IMPROVED = "improved"
    UNCHANGED = "unchanged"
    DETERIORATED = "deteriorated"
    HARMED = "harmed"
    """Reliably deteriorated and crossed from the functional to the clinical side."""


FALLBACK = Category.UNCHANGED
"""The category when no condition holds (`else` of a CASE, `default` of numpy.select)."""


def category_conditions(
    improved: Logical,
    deteriorated: Logical,
    clinical_pre: Logical,
    functional_pre: Logical,
    clinical_post: Logical,
    functional_post: Logical,
) -> list[tuple[Category, Logical]]:
    """Conditions in precedence order; the first that holds wins, else `FALLBACK` (unchanged).

    `functional_pre` and `clinical_post` stand for "not clinical at pre" and "not functional at
    post", passed in so that no flag is negated (`~` is wrong on Python bools).
    """
    # Recovery needs clinical at pre, so a person who starts functional can at best improve.
    return [
        (Category.RECOVERED, improved & clinical_pre & functional_post),
        (Category.IMPROVED, improved),
        (Category.HARMED, deteriorated & functional_pre & clinical_post),
        (Category.DETERIORATED, deteriorated),
    ]


def ha_category_conditions(
    improved: Logical, deteriorated: Logical, clinical_pre: Logical, cs_functional_post: Logical
) -> list[tuple[Category, Logical]]:
    """Hageman & Arrindell: recovered when clinical at pre, CS_indiv beyond the critical value
    towards health and reliably improved; there is no harmed category."""
    return [
        (Category.RECOVERED, improved & clinical_pre & cs_functional_post),
        (Category.IMPROVED, improved),
        (Category.DETERIORATED, deteriorated),
    ]


def first_category(conditions: Sequence[tuple[Category, Logical]]) -> Category:
    """The first category whose (scalar) condition holds, else `FALLBACK`."""
    for category, condition in conditions:
        if bool(condition):
            return category
    return FALLBACK


def categorize(
    improved: bool,
    deteriorated: bool,
    clinical_pre: bool,
    functional_pre: bool,
    clinical_post: bool,
    functional_post: bool,
) -> Category:
    """The category of one person (Jacobson & Truax, with clinicalsignificance's harmed)."""
    return first_category(
        category_conditions(
            improved, deteriorated, clinical_pre, functional_pre, clinical_post, functional_post
        )
    )


def categorize_ha(
    improved: bool, deteriorated: bool, clinical_pre: bool, cs_functional_post: bool
) -> Category:
    """The Hageman & Arrindell category of one person."""
    return first_category(
        ha_category_conditions(improved, deteriorated, clinical_pre, cs_functional_post)
    )


@dataclass(frozen=True)
class EpisodeResult:
    """One person's change: their position in the input, scores, index and category."""

    position: int
    pre: float
    post: float
    index: float
    category: Category


@dataclass(frozen=True)
class SampleResult:
    """A whole sample classified as the reference package does it."""

    reliable_change: ReliableChange
    cutoff: float | None
    episodes: tuple[EpisodeResult, ...]
    n_excluded: int
    """Pairs dropped because pre or post was missing."""

    @property
    def counts(self) -> dict[Category, int]:
        """Number of people per category, every category listed."""
        counts = dict.fromkeys(Category, 0)
        for episode in self.episodes:
            counts[episode.category] += 1
        return counts


def sample_cutoff(
    rc: ReliableChange, kind: CutoffType, functional: Population | None, sign: int
) -> float:
    """The cut-off of `kind` with the sample's pre scores as the clinical population.

    Hageman & Arrindell's method uses true-score cut-offs; every other method the observed ones.
    """
    clinical = Population(rc.stats.m_pre, rc.stats.sd_pre)
    if rc.method is Method.HA:
        return true_score_cutoff(kind, clinical, functional, sign, rc.sem)
    return cutoff(kind, clinical, functional, sign)


def episode_conditions(
    rc: ChangeRule,
    index: Numeric,
    pre: Numeric,
    post: Numeric,
    cut: float,
    sign: int,
    cutoff_is_clinical: bool | None = None,
) -> list[tuple[Category, Logical]]:
    """The category conditions of one person or of whole columns: the one rule both use.

    `cutoff_is_clinical=None` follows clinicalsignificance at ties: a score equal to the
    cut-off is neither clinical at pre nor functional at post. True or False place it on one
    side at both occasions (True for published caseness thresholds such as PHQ-9 >= 10).
    """
    improved = is_improved(index, sign, rc.critical)
    deteriorated = is_deteriorated(index, sign, rc.critical)
    if isinstance(rc, ReliableChange) and rc.method is Method.HA:
        stats = rc.stats
        cs = cs_indiv(post, m_post=stats.m_post, sd_post=stats.sd_post, sem=rc.sem, cutoff=cut)
        return ha_category_conditions(
            improved, deteriorated, is_clinical(pre, cut, sign), is_improved(cs, sign, rc.critical)
        )
    pre_inclusive = bool(cutoff_is_clinical)
    post_inclusive = True if cutoff_is_clinical is None else cutoff_is_clinical
    return category_conditions(
        improved,
        deteriorated,
        is_clinical(pre, cut, sign, inclusive=pre_inclusive),
        is_functional(pre, cut, sign, inclusive=pre_inclusive),
        is_clinical(post, cut, sign, inclusive=post_inclusive),
        is_functional(post, cut, sign, inclusive=post_inclusive),
    )


def _present(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def classify_episodes(
    pre: Sequence[float | None],
    post: Sequence[float | None],
    *,
    reliability: float,
    direction: Direction | int,
    method: Method = Method.JT,
    functional: Population | None = None,
    cutoff_type: CutoffType | None = CutoffType.C,
    reliability_post: float | None = None,
    significance_level: float = 0.05,
    cutoff_is_clinical: bool | None = None,
) -> SampleResult:
    """Complete cases, sample statistics, index, cut-off and category for every person.

    The clinical population is the complete-case pre sample (as in clinicalsignificance); a
    cut-off of type b or c needs `functional`; `cutoff_type=None` skips clinical significance.
    `cutoff_is_clinical=None` follows clinicalsignificance at ties (a score equal to the cut-off
    is neither clinical at pre nor functional at post); True or False place it on one side.
    """
    if len(pre) != len(post):
        raise ValueError(f"pre has {len(pre)} scores and post has {len(post)}; pass pairs")
    pairs = [
        (i, float(a), float(b))
        for i, (a, b) in enumerate(zip(pre, post, strict=True))
        if a is not None and b is not None and _present(a) and _present(b)
    ]
    stats = sample_stats([a for _, a, _ in pairs], [b for _, _, b in pairs])
    rc = reliable_change(method, stats, reliability, reliability_post, significance_level)
    sign = direction_sign(direction)
    cut: float | None = None
    if cutoff_type is not None:
        cut = sample_cutoff(rc, cutoff_type, functional, sign)

    episodes = []
    for position, a, b in pairs:
        index = rc.index(a, b)
        if cut is None:
            category = categorize(
                bool(is_improved(index, sign, rc.critical)),
                bool(is_deteriorated(index, sign, rc.critical)),
                False,
                False,
                False,
                False,
            )
        else:
            conditions = episode_conditions(rc, index, a, b, cut, sign, cutoff_is_clinical)
            category = first_category([(c, bool(flag)) for c, flag in conditions])
        episodes.append(EpisodeResult(position, a, b, index, category))
    return SampleResult(rc, cut, tuple(episodes), n_excluded=len(pre) - len(pairs))
