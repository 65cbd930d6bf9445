"""Signals: white, green, yellow and red by their definitions; the alert budget; flag accuracy."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from ally.feedback.etr import RationalEtr, predict_band
from ally.feedback.signals import (
    BudgetLevel,
    FlagAccuracy,
    ScaleChoice,
    Signal,
    SignalThresholds,
    best_choice,
    calibrate_budget,
    choose_yellow_scale,
    first_flags,
    flag_accuracy,
    flag_margins,
    meets_target,
    select_signals,
    signal,
    signal_conditions,
)

# PHQ-9 style: lower is better, caseness at 10 or more, reliable change 6.
PHQ: dict[str, Any] = {"cutoff": 10.0, "reliable_change": 6.0, "sign": -1}
# A band at session 4: expected 14, low 10, high 18 (bad edge 18, depth 4).
BAND: dict[str, float] = {"expected": 14.0, "low": 10.0, "high": 18.0}


def phq_signal(score: float, session: int = 4, intake: float = 18.0, **band: float) -> Signal:
    b = {**BAND, **band}
    return signal(score, intake, b["expected"], b["low"], b["high"], session, **PHQ)


def test_white_when_the_score_is_below_the_cutoff_on_the_healthy_side() -> None:
    assert phq_signal(9) is Signal.WHITE
    # A score equal to the cut-off is clinical (caseness is 10 or more).
    assert phq_signal(10) is not Signal.WHITE


def test_green_at_or_ahead_of_the_expected_score() -> None:
    assert phq_signal(14) is Signal.GREEN
    assert phq_signal(12) is Signal.GREEN


def test_green_when_behind_by_less_than_the_yellow_scale() -> None:
    # Yellow starts halfway (yellow_scale 0.5) from expected 14 to the bad edge 18, i.e. above 16.
    assert phq_signal(16) is Signal.GREEN


def test_yellow_when_behind_expected_but_within_the_band() -> None:
    assert phq_signal(17) is Signal.YELLOW
    assert phq_signal(18) is Signal.YELLOW  # on the edge is not beyond it


def test_red_beyond_the_bad_edge_of_the_band() -> None:
    assert phq_signal(18.5) is Signal.RED


def test_red_when_reliably_worse_than_intake_even_in_the_functional_range() -> None:
    # Intake 2, now 8: worse by the reliable change value 6, though below the cut-off.
    assert phq_signal(8, intake=2, expected=2, low=0, high=5) is Signal.RED
    assert phq_signal(7, intake=2, expected=2, low=0, high=8) is Signal.WHITE


def test_no_band_flag_before_from_session() -> None:
    # Session 1 is the intake: a score beyond the band there is not flagged by the band.
    assert phq_signal(19, session=1, intake=19) is Signal.GREEN
    assert phq_signal(19, session=2, intake=19) is Signal.RED


def test_higher_is_better_uses_the_low_edge_as_the_bad_edge() -> None:
    ors: dict[str, Any] = {"cutoff": 25.0, "reliable_change": 5.0, "sign": 1}
    band = (20.0, 16.0, 24.0)  # expected, low, high
    assert signal(26, 15, *band, 4, **ors) is Signal.WHITE
    assert signal(21, 15, *band, 4, **ors) is Signal.GREEN
    assert signal(17, 15, *band, 4, **ors) is Signal.YELLOW
    assert signal(15.5, 15, *band, 4, **ors) is Signal.RED
    assert signal(9, 15, *band, 4, **ors) is Signal.RED


def test_without_a_cutoff_no_session_is_white() -> None:
    assert signal(1, 18, 14, 10, 18, 4, cutoff=None, reliable_change=6, sign=-1) is Signal.GREEN


def test_thresholds_must_put_yellow_before_red() -> None:
    with pytest.raises(ValueError, match="yellow_scale <= red_scale"):
        SignalThresholds(red_scale=0.5, yellow_scale=1.0)


def test_conditions_give_the_same_signal_on_floats_and_numpy_arrays() -> None:
    scores = np.array([9, 14, 16, 17, 18.5, 30, 8])
    intakes = np.array([18, 18, 18, 18, 18, 18, 2])
    session = np.array([4, 4, 4, 4, 4, 4, 4])
    arrays = select_signals(signal_conditions(scores, intakes, 14.0, 10.0, 18.0, session, **PHQ))
    one_by_one = [
        phq_signal(float(s), intake=float(i)) for s, i in zip(scores, intakes, strict=True)
    ]
    assert list(arrays) == [s.value for s in one_by_one]
    assert list(arrays) == ["white", "green", "green", "yellow", "red", "red", "red"]


def test_rational_method_reaches_every_signal() -> None:
    # Intake 20 on PHQ-9, reliable change 6: expected 6 points better by session 8 (ln-shaped).
    rational = RationalEtr(reliable_change=6, sign=-1)
    e, lo, hi = (float(v) for v in predict_band(rational, 20, 8))
    assert (e, lo, hi) == pytest.approx((14, 8, 20))

    def at_8(score: float) -> Signal:
        return signal(score, 20, e, lo, hi, 8, **PHQ)

    assert [at_8(s) for s in (9, 14, 16, 18, 21)] == [
        Signal.WHITE,
        Signal.GREEN,
        Signal.GREEN,  # 2 behind: less than half a band (3)
        Signal.YELLOW,
        Signal.RED,  # worse than intake by session 8
    ]


def test_rational_method_holds_after_the_target_session() -> None:
    rational = RationalEtr(reliable_change=6, sign=-1, target_session=8)
    assert predict_band(rational, 20, 30)[0] == pytest.approx(14)
    assert predict_band(rational, 20, 1)[0] == pytest.approx(20)


def _episodes(n: int, seed: int) -> dict[str, np.ndarray]:
    """Synthetic PHQ-like episodes around the rational band, some drifting upward."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list[float]] = {k: [] for k in ("episode", "session", "score", "intake")}
    for e in range(n):
        intake = rng.uniform(12, 24)
        drift = rng.normal(-0.8, 1.0)
        for s in range(2, 9):
            rows["episode"].append(e)
            rows["session"].append(s)
            rows["score"].append(intake + drift * math.log(s) * 3 + rng.normal(0, 2.5))
            rows["intake"].append(intake)
    return {k: np.asarray(v) for k, v in rows.items()}


def _ever(data: dict[str, np.ndarray], thresholds: SignalThresholds, levels: set[str]) -> float:
    rational = RationalEtr(reliable_change=6, sign=-1)
    e, lo, hi = predict_band(rational, data["intake"], data["session"])
    conditions = signal_conditions(
        data["score"], data["intake"], e, lo, hi, data["session"], thresholds=thresholds, **PHQ
    )
    flagged = np.isin(select_signals(conditions), list(levels))
    episodes = np.unique(data["episode"][flagged])
    return len(episodes) / len(np.unique(data["episode"]))


@pytest.mark.parametrize(("level", "levels"), [("red", {"red"}), ("any", {"red", "yellow"})])
def test_budget_calibration_respects_its_cap_on_training_data(level: str, levels: set[str]) -> None:
    data = _episodes(300, seed=3)
    rational = RationalEtr(reliable_change=6, sign=-1)
    e, lo, hi = predict_band(rational, data["intake"], data["session"])
    before = _ever(data, SignalThresholds(), levels)
    cap = 0.3
    budget = calibrate_budget(
        data["episode"], data["session"], data["score"], data["intake"], e, lo, hi,
        cap=cap, level=BudgetLevel(level), **PHQ,
    )  # fmt: skip
    after = _ever(data, budget.thresholds, levels)
    assert before > cap  # the default thresholds would exceed the budget here
    assert budget.attainable
    assert after <= cap
    assert after == pytest.approx(budget.share_flagged)
    assert budget.share_deteriorated <= after


def test_budget_never_lowers_the_thresholds() -> None:
    data = _episodes(100, seed=4)
    e, lo, hi = predict_band(RationalEtr(6, -1), data["intake"], data["session"])
    budget = calibrate_budget(
        data["episode"], data["session"], data["score"], data["intake"], e, lo, hi,
        cap=1.0, **PHQ,
    )  # fmt: skip
    assert budget.thresholds == SignalThresholds()


def test_budget_is_unattainable_when_deterioration_alone_exceeds_it() -> None:
    # Two episodes, both reliably worse (intake 10, now 17): a 40% cap cannot be met.
    budget = calibrate_budget(
        [1, 2], [3, 3], [17, 17], [10, 10], [9, 9], [6, 6], [12, 12], cap=0.4, **PHQ
    )
    assert not budget.attainable
    assert budget.share_flagged == 1.0


# Hand-made backtest table: first flagged session (None: never) and eventual deterioration.
FIRST_FLAG = [1, 2, 3, None, 2, None, 5, None, None, 4]
DETERIORATED = [True, True, False, True, False, False, True, False, False, False]


def test_flag_accuracy_is_cumulative_by_session() -> None:
    rows = {r.by_session: r for r in flag_accuracy(FIRST_FLAG, DETERIORATED)}
    assert list(rows) == [1, 2, 3, 4, 5, None]
    assert rows[1] == FlagAccuracy(1, true_positives=1, false_positives=0, false_negatives=3,
                                   true_negatives=6)  # fmt: skip
    by3 = rows[3]
    # Deteriorators 0, 1, 3, 6: flagged by session 3 are 0 and 1. Others: 2 and 4 flagged of 6.
    assert (by3.true_positives, by3.false_negatives) == (2, 2)
    assert (by3.false_positives, by3.true_negatives) == (2, 4)
    assert by3.sensitivity == pytest.approx(0.5)
    assert by3.specificity == pytest.approx(4 / 6)
    assert by3.positive_predictive_value == pytest.approx(0.5)
    assert by3.others_flagged == pytest.approx(2 / 6)
    end = rows[None]
    assert (end.true_positives, end.false_positives) == (3, 3)
    assert end.sensitivity == pytest.approx(0.75)


def test_flag_accuracy_reads_nan_as_never_flagged() -> None:
    rows = flag_accuracy([math.nan, 2.0], [True, True], max_session=2)
    assert [r.true_positives for r in rows] == [0, 1, 1]


def test_undefined_rates_are_nan() -> None:
    (row, _) = flag_accuracy([None], [False], max_session=1)
    assert math.isnan(row.sensitivity)
    assert math.isnan(row.positive_predictive_value)


def test_first_flags_takes_each_episodes_earliest_flagged_session() -> None:
    firsts = first_flags(
        ["a", "a", "a", "b", "b"], [3, 2, 4, 1, 2], [True, True, False, False, False]
    )
    assert firsts == {"a": 2, "b": None}


def test_meets_target_is_hannans_85_percent_by_session_3_with_at_most_20_percent_others() -> None:
    # Issue 12's goal: 85% of deteriorators by session 3 (Hannan et al. 2005), at most 20% others.
    good = [FlagAccuracy(3, 17, 16, 3, 64)]  # sensitivity .85, others flagged .20
    bad = [FlagAccuracy(3, 17, 17, 3, 63)]
    assert meets_target(good)
    assert not meets_target(bad)
    with pytest.raises(ValueError, match="no accuracy row for session 3"):
        meets_target([FlagAccuracy(2, 1, 0, 0, 1)])


# --- The band before white, and choosing the yellow threshold ---------------------------------


def test_the_band_read_first_flags_a_score_in_the_functional_range_far_behind_the_course() -> None:
    # Intake 4 (not a case), expected 2 at session 2 with a band of ±6: a score of 7 is below
    # the cut-off 10, 5 points behind (5/6 of the depth), and only 3 worse than intake.
    band = {"expected": 2.0, "low": -4.0, "high": 8.0}
    args = (7.0, 4.0, band["expected"], band["low"], band["high"], 2)
    assert signal(*args, **PHQ) is Signal.WHITE
    band_first = SignalThresholds(functional_first=False)
    assert signal(*args, **PHQ, thresholds=band_first) is Signal.YELLOW
    # On track in the functional range stays white either way.
    on_track = (2.0, 4.0, band["expected"], band["low"], band["high"], 2)
    assert signal(*on_track, **PHQ, thresholds=band_first) is Signal.WHITE


@pytest.mark.parametrize("first", [True, False])
def test_flag_margins_agree_with_the_signal_rule_at_every_threshold(first: bool) -> None:
    rng = np.random.default_rng(3)
    n = 400
    episode = np.repeat(np.arange(100), 4)
    session = np.tile(np.arange(1, 5), 100)
    intake = np.repeat(rng.integers(4, 27, 100), 4).astype(float)
    score = np.clip(intake + rng.normal(0, 4, n).round(), 0, 27)
    score[session == 1] = intake[session == 1]
    expected, low, high = predict_band(RationalEtr(6.0, -1), intake, session)
    margins = flag_margins(
        episode, session, score, intake, expected, low, high, **PHQ,
        thresholds=SignalThresholds(functional_first=first), by_session=3,
    )  # fmt: skip
    for scale in (0.0, 0.3, 0.5, 0.75, 1.0, 2.0):
        thresholds = SignalThresholds(
            yellow_scale=scale, red_scale=max(1.0, scale), functional_first=first
        )
        conditions = signal_conditions(
            score, intake, expected, low, high, session, **PHQ, thresholds=thresholds
        )
        flagged = np.isin(select_signals(conditions), ["yellow", "red"]) & (session <= 3)
        by_episode = np.zeros(100, dtype=bool)
        np.logical_or.at(by_episode, episode, flagged)
        assert np.array_equal(margins.flagged(scale), by_episode), scale


def test_the_chosen_threshold_is_the_most_sensitive_within_the_false_alarm_bound() -> None:
    # Ten episodes: worst shortfalls (in band depths) and outcomes; none reliably worse.
    from ally.feedback.signals import FlagMargins

    worst = np.array([1.2, 0.9, 0.55, 0.4, 0.8, 0.6, 0.3, 0.2, 0.1, -np.inf])
    poor = np.array([True, True, True, False, False, False, False, False, False, False])
    margins = FlagMargins(np.arange(10).astype(object), worst, np.zeros(10, dtype=bool))
    choice = choose_yellow_scale(
        margins, poor, course="rational", functional_first=True, max_others_flagged=2 / 7
    )
    # From .4 two of seven others flag (.8 and .6; the shortfall must exceed the threshold),
    # and all three deteriorators still do (.55 is above .4).
    assert choice.yellow_scale == 0.4
    assert choice.sensitivity == 1.0
    assert choice.others_flagged == pytest.approx(2 / 7)
    assert choice.within_bound
    assert choice.sensitive_enough
    tight = choose_yellow_scale(
        margins, poor, course="rational", functional_first=True, max_others_flagged=0.0
    )
    # No other is flagged from .8, where two of three deteriorators (1.2 and .9) still are.
    assert tight.yellow_scale == 0.8
    assert tight.sensitivity == pytest.approx(2 / 3)
    assert not tight.sensitive_enough


def test_the_best_rule_is_the_most_sensitive_within_its_bound() -> None:
    def c(course: str, sens: float, others: float, within: bool = True) -> ScaleChoice:
        return ScaleChoice(course, True, 0.5, sens, others, 100, 10, within, sens >= 0.85)

    fitted, rational = c("fitted", 0.8, 0.15), c("rational", 0.9, 0.17)
    assert best_choice([fitted, rational]) is rational
    assert best_choice([fitted, c("rational", 0.8, 0.15)]) is fitted  # a tie: the practice's own
    loud = c("rational", 0.95, 0.3, within=False)
    assert best_choice([loud, fitted]) is fitted
    assert best_choice([loud, c("fitted", 0.99, 0.4, within=False)]) is loud
