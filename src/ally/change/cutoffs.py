"""Clinical cut-offs: Jacobson & Truax's a, b and c, their true-score versions, and caseness.

Jacobson & Truax (1991), JCCP 59:12; true-score cut-offs from Hageman & Arrindell (1999),
BRAT 37:1169, as coded in clinicalsignificance R/calc_cutoff.R (SPECS 1.1-1.2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import cast

from ally.change.generic import Logical, N, Numeric
from ally.change.reliable import ha_reliability
from ally.measures.schema import Direction


class CutoffType(StrEnum):
    A = "a"
    """Two SDs beyond the clinical mean, towards health."""
    B = "b"
    """Within two SDs of the functional mean."""
    C = "c"
    """Where the clinical and functional distributions are equally likely; best with norms."""


@dataclass(frozen=True)
class Population:
    """Mean and SD of a clinical or a functional (healthy) population."""

    mean: float
    sd: float


def direction_sign(direction: Direction | int) -> int:
    """+1 when higher scores are better, -1 when lower are."""
    sign = direction.sign if isinstance(direction, Direction) else direction
    if sign not in (1, -1):
        raise ValueError(f"direction must be +1, -1 or a Direction, not {direction!r}")
    return sign


def cutoff_a(clinical: Population, direction: Direction | int) -> float:
    """a = M₀ + 2·SD₀ towards the better end."""
    return clinical.mean + direction_sign(direction) * 2 * clinical.sd


def cutoff_b(functional: Population, direction: Direction | int) -> float:
    """b = M₁ − 2·SD₁ towards the worse end, with the functional SD as JT 1991 define it."""
    # clinicalsignificance >= 3 uses the clinical SD here; its earlier versions and the paper
    # use the functional SD (SPECS 1.2 caveat 1).
    return functional.mean - direction_sign(direction) * 2 * functional.sd


def cutoff_c(clinical: Population, functional: Population) -> float:
    """c = (SD₀·M₁ + SD₁·M₀)/(SD₀ + SD₁); the same for either direction."""
    return (clinical.sd * functional.mean + functional.sd * clinical.mean) / (
        clinical.sd + functional.sd
    )


def cutoff(
    kind: CutoffType,
    clinical: Population,
    functional: Population | None,
    direction: Direction | int,
) -> float:
    """Jacobson & Truax cut-off of the given type; b and c need the functional population."""
    if kind is CutoffType.A:
        return cutoff_a(clinical, direction)
    if functional is None:
        raise ValueError(f"cut-off {kind} needs the mean and SD of a functional population")
    if kind is CutoffType.B:
        return cutoff_b(functional, direction)
    return cutoff_c(clinical, functional)


def true_score_cutoff(
    kind: CutoffType,
    clinical: Population,
    functional: Population | None,
    direction: Direction | int,
    sem: float,
) -> float:
    """Hageman & Arrindell's cut-off on true scores: each SD shrunk by √r, r = (SD² − SEM²)/SD².

    `sem` is the clinical SD·√(1 − reliability), as in clinicalsignificance's
    calc_cutoff_from_data.cs_ha().
    """
    sign = direction_sign(direction)
    sd0 = clinical.sd * math.sqrt(ha_reliability(clinical.sd, sem))
    if kind is CutoffType.A:
        return clinical.mean + sign * 2 * sd0
    if functional is None:
        raise ValueError(f"cut-off {kind} needs the mean and SD of a functional population")
    sd1 = functional.sd * math.sqrt(ha_reliability(functional.sd, sem))
    if kind is CutoffType.B:
        # Functional true-score SD, by analogy with b above (the package uses the clinical one).
        return functional.mean - sign * 2 * sd1
    return (sd0 * functional.mean + sd1 * clinical.mean) / (sd0 + sd1)


def cs_indiv(post: N, *, m_post: float, sd_post: float, sem: float, cutoff: float) -> N:
    """Hageman & Arrindell's CS_indiv: the estimated true post score's distance from the cut-off.

    (M_post + (post − M_post)·r_post − c)/(√r_post·SEM), with r_post = (SD_post² − SEM²)/SD_post².
    """
    r_post = ha_reliability(sd_post, sem)
    return cast(N, (m_post + (post - m_post) * r_post - cutoff) / (math.sqrt(r_post) * sem))


def is_clinical(
    score: Numeric, cutoff: float, direction_sign: int, *, inclusive: bool = False
) -> Logical:
    """Whether a score lies on the clinical side of the cut-off.

    `inclusive` says whether the cut-off value itself is clinical: clinicalsignificance treats it
    as not clinical (strict, the default); published caseness thresholds such as PHQ-9 ≥ 10 count
    it as clinical (inclusive=True).
    """
    bound = direction_sign * cutoff
    if inclusive:
        return cast(Logical, direction_sign * score <= bound)
    return cast(Logical, direction_sign * score < bound)


def is_functional(
    score: Numeric, cutoff: float, direction_sign: int, *, inclusive: bool = False
) -> Logical:
    """The complement of `is_clinical` with the same `inclusive`, written without negation."""
    bound = direction_sign * cutoff
    if inclusive:
        return cast(Logical, direction_sign * score > bound)
    return cast(Logical, direction_sign * score >= bound)
