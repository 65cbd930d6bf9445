"""Jacobson & Truax cut-offs, their true-score versions and the clinical/functional sides."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ally.change.cutoffs import (
    CutoffType,
    Population,
    cs_indiv,
    cutoff,
    cutoff_a,
    cutoff_b,
    cutoff_c,
    is_clinical,
    is_functional,
    true_score_cutoff,
)
from ally.measures.schema import Direction

LOWER = Direction.LOWER_IS_BETTER
HIGHER = Direction.HIGHER_IS_BETTER


def test_cutoff_c_of_the_bdi_worked_example_is_21_02() -> None:
    # SPECS 1.1: (8.16·7.69 + 7.52·35.48)/(8.16 + 7.52) = 21.02.
    assert round(cutoff_c(Population(35.48, 8.16), Population(7.69, 7.52)), 2) == 21.02


def test_cutoffs_of_the_jacobson_example_in_clinicalsignificance_tests() -> None:
    # clinicalsignificance tests/testthat/test-calc_cutoff.R: clinical M 40 SD 7.5, functional
    # M 60 SD 7.5 (higher is better): c = 50, a = 55 (higher) or 25 (lower).
    clinical, functional = Population(40, 7.5), Population(60, 7.5)
    assert cutoff_c(clinical, functional) == 50
    assert cutoff_a(clinical, HIGHER) == 55
    assert cutoff_a(clinical, LOWER) == 25
    assert cutoff_b(functional, HIGHER) == 45
    assert cutoff_b(functional, LOWER) == 75


def test_cutoff_b_uses_the_functional_sd_as_jacobson_and_truax_define_it() -> None:
    # clinicalsignificance v3 computes b as M_functional - direction·2·SD_clinical; JT (1991)
    # and the package's earlier versions use SD_functional, which Ally follows (SPECS 1.2).
    clinical, functional = Population(30, 8), Population(10, 5)
    assert cutoff_b(functional, LOWER) == 20  # 10 + 2·5, not 10 + 2·8 = 26
    assert cutoff(CutoffType.B, clinical, functional, LOWER) == 20


def test_cutoff_c_does_not_depend_on_direction() -> None:
    clinical, functional = Population(30, 8), Population(10, 5)
    assert cutoff(CutoffType.C, clinical, functional, LOWER) == cutoff(
        CutoffType.C, clinical, functional, HIGHER
    )


def test_cutoffs_b_and_c_need_a_functional_population() -> None:
    with pytest.raises(ValueError, match="functional population"):
        cutoff(CutoffType.C, Population(30, 8), None, LOWER)


def test_true_score_cutoffs_shrink_each_sd_by_the_root_of_its_reliability() -> None:
    # SPECS 1.2: r = (SD² − SEM²)/SD²; c = (SD₀√r₀·M₁ + SD₁√r₁·M₀)/(SD₀√r₀ + SD₁√r₁).
    clinical, functional, sem = Population(24.85, 3.34), Population(7.69, 7.52), 1.5
    r0 = (3.34**2 - sem**2) / 3.34**2
    r1 = (7.52**2 - sem**2) / 7.52**2
    sd0, sd1 = 3.34 * math.sqrt(r0), 7.52 * math.sqrt(r1)
    assert true_score_cutoff(CutoffType.C, clinical, functional, LOWER, sem) == pytest.approx(
        (sd0 * 7.69 + sd1 * 24.85) / (sd0 + sd1)
    )
    assert true_score_cutoff(CutoffType.A, clinical, None, LOWER, sem) == pytest.approx(
        24.85 - 2 * sd0
    )
    assert true_score_cutoff(CutoffType.B, clinical, functional, LOWER, sem) == pytest.approx(
        7.69 + 2 * sd1
    )


def test_cs_indiv_is_the_true_post_score_distance_from_the_cutoff_in_sem() -> None:
    # SPECS 1.2: (M_post + (post − M_post)·r_post − c)/(√r_post·SEM).
    r_post = (7.71**2 - 1.5**2) / 7.71**2
    expected = (14.975 + (9 - 14.975) * r_post - 19.0) / (math.sqrt(r_post) * 1.5)
    got = cs_indiv(9.0, m_post=14.975, sd_post=7.71, sem=1.5, cutoff=19.0)
    assert got == pytest.approx(expected)
    column = cs_indiv(np.array([9.0]), m_post=14.975, sd_post=7.71, sem=1.5, cutoff=19.0)
    assert column.tolist() == [got]


def test_phq9_threshold_score_is_clinical_when_inclusive() -> None:
    # PHQ-9 >= 10 is caseness, so 10 itself is clinical; clinicalsignificance's strict rule
    # (direction·score < direction·cutoff) leaves the cut-off value out.
    sign = LOWER.sign
    assert is_clinical(10, 10, sign, inclusive=True)
    assert not is_functional(10, 10, sign, inclusive=True)
    assert not is_clinical(10, 10, sign)
    assert is_functional(10, 10, sign)
    assert is_clinical(11, 10, sign)
    assert is_functional(9, 10, sign)


def test_higher_is_better_scores_below_the_cutoff_are_clinical() -> None:
    assert is_clinical(40, 50, HIGHER.sign)
    assert is_functional(60, 50, HIGHER.sign)


@given(
    score=st.floats(min_value=-100, max_value=100, allow_nan=False),
    cut=st.sampled_from([0.0, 10.0, 21.02]),
    sign=st.sampled_from([1, -1]),
    inclusive=st.booleans(),
)
def test_every_score_is_exactly_one_of_clinical_or_functional(
    score: float, cut: float, sign: int, inclusive: bool
) -> None:
    clinical = bool(is_clinical(score, cut, sign, inclusive=inclusive))
    functional = bool(is_functional(score, cut, sign, inclusive=inclusive))
    assert clinical != functional
    array = is_clinical(np.array([score]), cut, sign, inclusive=inclusive)
    assert array.tolist() == [clinical]
