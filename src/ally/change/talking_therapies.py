"""NHS Talking Therapies (formerly IAPT) paired PHQ-9 and GAD-7 outcome rules (SPECS section 2).

Sources [S]: the IAPT manual (via cbtwatch.com) and the NHS Digital glossary. The thresholds are
parameters; the edge rules marked [U] are unverified against NHS Digital's technical
specification. The rules use only comparisons and `&`/`|`, so they apply unchanged to floats,
numpy arrays and Ibis columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ally.change.generic import Numeric

L = TypeVar("L")


@dataclass(frozen=True)
class Thresholds:
    """Caseness cut-offs and reliable-change values for the paired measures."""

    phq9_caseness: float = 10
    """PHQ-9 ≥ 10 is a case [S]."""
    gad7_caseness: float = 8
    """GAD-7 ≥ 8 is a case in Talking Therapies (not the ≥ 10 of Spitzer 2006) [S]."""
    phq9_reliable: float = 6
    """A change of ≥ 6 PHQ-9 points is reliable [S]; whether exactly 6 counts is [U]."""
    gad7_reliable: float = 4
    """A change of ≥ 4 GAD-7 points is reliable [S]; whether exactly 4 counts is [U]."""


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class PairedOutcome(Generic[L]):
    """The outcome flags of one course of treatment (or of columns of them)."""

    caseness_start: L
    caseness_end: L
    reliable_improvement: L
    reliable_deterioration: L
    recovered: L
    reliable_recovery: L


def paired_outcome(
    phq9_start: Numeric,
    phq9_end: Numeric,
    gad7_start: Numeric,
    gad7_end: Numeric,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> PairedOutcome[Any]:
    """Caseness, reliable improvement/deterioration, recovery and reliable recovery.

    Flags are bools for floats, bool arrays for numpy arrays, boolean expressions for Ibis.
    """
    t = thresholds
    phq9_fall = phq9_start - phq9_end
    gad7_fall = gad7_start - gad7_end
    phq9_rise = phq9_end - phq9_start
    gad7_rise = gad7_end - gad7_start
    caseness_start = (phq9_start >= t.phq9_caseness) | (gad7_start >= t.gad7_caseness)
    caseness_end = (phq9_end >= t.phq9_caseness) | (gad7_end >= t.gad7_caseness)
    # Reliable improvement: a reliable fall on at least one measure and no reliable rise on the
    # other [S]. Reliable deterioration mirrors it [U: the mirror's exclusion of a reliable fall
    # on the other measure is our reading].
    reliable_improvement = (
        ((phq9_fall >= t.phq9_reliable) | (gad7_fall >= t.gad7_reliable))
        & (phq9_rise < t.phq9_reliable)
        & (gad7_rise < t.gad7_reliable)
    )
    reliable_deterioration = (
        ((phq9_rise >= t.phq9_reliable) | (gad7_rise >= t.gad7_reliable))
        & (phq9_fall < t.phq9_reliable)
        & (gad7_fall < t.gad7_reliable)
    )
    # Recovery: a case at the start and below caseness on both measures at the end [S]; it is
    # not defined for people who started below caseness, so their flag is False.
    recovered = caseness_start & (phq9_end < t.phq9_caseness) & (gad7_end < t.gad7_caseness)
    return PairedOutcome(
        caseness_start=caseness_start,
        caseness_end=caseness_end,
        reliable_improvement=reliable_improvement,
        reliable_deterioration=reliable_deterioration,
        recovered=recovered,
        reliable_recovery=recovered & reliable_improvement,
    )


def talking_therapies_outcome(
    phq9_start: float,
    phq9_end: float,
    gad7_start: float,
    gad7_end: float,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> PairedOutcome[bool]:
    """The paired outcome of one person's first and last PHQ-9 and GAD-7 scores."""
    flags = paired_outcome(phq9_start, phq9_end, gad7_start, gad7_end, thresholds)
    return PairedOutcome(
        caseness_start=bool(flags.caseness_start),
        caseness_end=bool(flags.caseness_end),
        reliable_improvement=bool(flags.reliable_improvement),
        reliable_deterioration=bool(flags.reliable_deterioration),
        recovered=bool(flags.recovered),
        reliable_recovery=bool(flags.reliable_recovery),
    )
