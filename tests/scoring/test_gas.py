"""Goal Attainment Scaling's T-score (Kiresuk & Sherman 1968, rho = 0.3).

Reference values: Kiresuk TJ, Sherman RE (1968), Community Mental Health Journal 4(6):443-453,
as restated by Turner-Stokes (2009, Clin Rehabil 23:362, with its erratum); the table of
equal-weight values in shared/research/specs-goals-groups-fhir.md §2.2.
"""

from __future__ import annotations

import math

import pytest

from ally.measures.library import load_library
from ally.scoring import score
from ally.scoring.gas import t_score, t_score_range


def test_three_goals_all_somewhat_less_than_expected_give_36_3() -> None:
    assert t_score([-1, -1, -1]) == pytest.approx(36.3, abs=0.05)


@pytest.mark.parametrize(
    ("goals", "level", "expected"),
    [(1, -1, 40.0), (1, 2, 70.0), (3, 1, 63.7), (3, 2, 77.4), (5, -1, 34.9), (5, 2, 80.2)],
)
def test_equal_weights_match_the_published_table(goals: int, level: int, expected: float) -> None:
    assert t_score([level] * goals) == pytest.approx(expected, abs=0.05)


def test_every_goal_at_its_expected_outcome_gives_50_whatever_the_weights() -> None:
    assert t_score([0, 0, 0], [1, 2, 6]) == 50


def test_weights_follow_the_kiresuk_sherman_formula() -> None:
    levels, weights = [1, -1, 2], [1.0, 2.0, 3.0]
    numerator = sum(w * x for w, x in zip(weights, levels, strict=True))
    spread = 0.7 * sum(w * w for w in weights) + 0.3 * sum(weights) ** 2
    assert t_score(levels, weights) == pytest.approx(50 + 10 * numerator / math.sqrt(spread))


def test_a_goal_not_rated_is_left_out() -> None:
    assert t_score([-1, None, -1, -1]) == t_score([-1, -1, -1])
    assert t_score([None, None]) is None


def test_a_level_outside_minus_two_to_two_is_refused() -> None:
    with pytest.raises(ValueError, match="one of -2, -1, 0, 1, 2"):
        t_score([3])


def test_the_range_widens_with_more_goals() -> None:
    assert t_score_range(1) == pytest.approx((30.0, 70.0))
    assert t_score_range(5) == pytest.approx((19.85, 80.15), abs=0.01)


def test_the_gas_measure_scores_its_items_as_the_t_score() -> None:
    gas = load_library().get("gas")
    assert score(gas, {1: -1, 2: -1, 3: -1}).total == pytest.approx(36.307, abs=0.001)
