"""The dashboard's alliance–outcome correlation: its definition and Fisher's interval."""

from __future__ import annotations

import math

import pytest

from ally.research.correlation import (
    META_CI,
    META_R,
    correlation,
    early_alliance,
    improvement,
)


def test_early_alliance_is_the_mean_of_sessions_one_to_three() -> None:
    assert early_alliance([(1, 20.0), (2, 22.0), (3, 27.0), (4, 10.0)]) == 23.0
    assert early_alliance([(2, 24.0)]) == 24.0
    assert early_alliance([(4, 24.0)]) is None


def test_improvement_runs_from_session_one_to_the_last_score_after_session_three() -> None:
    phq9 = [(1, 18.0), (2, 15.0), (5, 9.0), (7, 8.0)]
    assert improvement(phq9, lower_is_better=True) == 10.0
    assert improvement(phq9, lower_is_better=False) == -10.0
    assert improvement([(1, 18.0), (3, 9.0)], lower_is_better=True) is None  # none after 3
    assert improvement([(2, 18.0), (6, 9.0)], lower_is_better=True) is None  # no session 1


def test_fisher_interval_matches_a_worked_value() -> None:
    # r = .5 with n = 28, by hand: z = atanh(.5) = 0.5493, SE = 1/√25 = 0.2, so z ± 1.96·0.2
    # runs from 0.1573 to 0.9413, and back through tanh from .156 to .736.
    x = [float(i) for i in range(28)]
    # y built to have r = .5 exactly: a mix of x and a part uncorrelated with it.
    centred = [v - 13.5 for v in x]
    other = [((-1) ** i) * (1 + (i % 3)) for i in range(28)]
    other = [o - sum(other) / 28 for o in other]
    slope = sum(o * c for o, c in zip(other, centred, strict=True)) / sum(c * c for c in centred)
    other = [o - slope * c for o, c in zip(other, centred, strict=True)]
    ratio = math.sqrt(sum(c * c for c in centred) / sum(o * o for o in other))
    y = [c + math.sqrt(3) * ratio * o for c, o in zip(centred, other, strict=True)]
    found = correlation(x, y)
    assert found.r == pytest.approx(0.5)
    assert (round(found.ci_low, 3), round(found.ci_high, 3)) == (0.156, 0.736)
    assert found.n == 28


def test_too_few_or_constant_pairs_are_refused() -> None:
    with pytest.raises(ValueError, match="4 or more pairs"):
        correlation([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    with pytest.raises(ValueError, match="4 or more pairs"):
        correlation([1.0, 1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 4.0, 5.0, 6.0])


def test_the_meta_analytic_figure_is_floeckiger_2018() -> None:
    # Flückiger et al. (2018), abstract: r = .278, 95% CI [.256, .299].
    assert (META_R, META_CI) == (0.278, (0.256, 0.299))
