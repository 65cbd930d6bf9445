"""Alliance ruptures, repairs, client-clinician discrepancy and rupture accuracy (SPECS 4, 8)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ally.change.reliable import reliable_change_value
from ally.feedback import alliance
from ally.feedback.alliance import (
    OPENFIT_BASELINE,
    STRAUSS_2006,
    SUBSCALES,
    Reference,
    RuleKind,
    RuptureConfig,
    RupturePeriod,
    RuptureRule,
    discrepancy,
    discrepancy_in_series,
    rupture_accuracy,
    ruptures,
    ruptures_in_series,
    stiles_2004,
)

NA = None
Series = Sequence[float | None]


def onsets(series: Series, config: RuptureConfig = STRAUSS_2006) -> tuple[int, ...]:
    return ruptures_in_series(series, config=config).ruptures


def only(rule: RuptureRule, repair_within: int = 3) -> RuptureConfig:
    return RuptureConfig(rules=(rule,), repair_within=repair_within)


# --- The SPECS worked example and the percentage rule (Strauss et al. 2006) ------------------


def test_specs_worked_example_wai_sr_50_52_42_51_ruptures_at_3rd_and_repairs_at_4th() -> None:
    # SPECS 4: "WAI-SR totals 50, 52, 42, 51. The drop 52→42 is −19% (≥ 15%), so a rupture;
    # 51 is back within 15% of 52, so repaired at the next session."
    assert round((42 - 52) / 52 * 100) == -19
    found = ruptures_in_series([50, 52, 42, 51])
    assert found.ruptures == (2,)  # 0-based: the 3rd session
    assert found.repairs == (3,)
    assert found.periods == (RupturePeriod(2, "", 10.0, 3, "repaired"),)


def test_percent_rule_a_drop_of_exactly_15_percent_is_a_rupture() -> None:
    assert onsets([40, 34]) == (1,)
    assert onsets([100, 85]) == (1,)  # 0.15 * 100 is 15.000000000000002 in floating point
    assert onsets([40, 34.1]) == ()


def test_percent_rule_against_the_running_mean_catches_a_slow_slide() -> None:
    # 50, 46, 42, 39: each step is under 15%, but 39 is 15.2% below the mean of 50, 46, 42.
    slide = [50, 46, 42, 39]
    assert onsets(slide) == ()
    assert onsets(slide, only(RuptureRule.percent_drop(reference=Reference.MEAN))) == (3,)


def test_a_rise_is_never_a_rupture() -> None:
    # Every rule also needs a fall from the previous rated score.
    assert onsets([30, 40, 45], only(RuptureRule.percent_drop(reference=Reference.MEAN))) == ()


# --- The SD rule (after Stiles et al. 2004) ----------------------------------------------------


def test_sd_rule_a_drop_of_2_sd_of_the_earlier_sessions_below_their_mean() -> None:
    # Earlier sessions 50, 54, 46, 50: mean 50, SD √(32/3) = 3.27, so 2 SD = 6.53.
    config = stiles_2004(sd_floor=1.0)
    assert onsets([50, 54, 46, 50, 40], config) == (4,)
    assert onsets([50, 54, 46, 50, 44], config) == ()


def test_sd_rule_needs_min_sessions_earlier_sessions() -> None:
    assert onsets([50, 50, 30], stiles_2004(sd_floor=1.0)) == ()
    assert onsets([50, 50, 30], stiles_2004(sd_floor=1.0, min_sessions=2)) == (2,)


def test_sd_rule_floor_keeps_a_flat_series_from_flagging_every_wobble() -> None:
    flat = [50, 50, 50, 50]
    assert onsets([*flat, 49], stiles_2004(sd_floor=1.0)) == ()
    assert onsets([*flat, 48], stiles_2004(sd_floor=1.0)) == (4,)
    assert onsets([*flat, 49], stiles_2004(sd_floor=0.0)) == (4,)


# --- The reliable drop, points and the cut-off ------------------------------------------------


def test_reliable_rule_needs_a_drop_larger_than_the_reliable_change_value() -> None:
    # SPECS 1.3: SD 7.5, r .8 → reliable change value 9.2969.
    rule = RuptureRule.reliable_drop(sd=7.5, reliability=0.8)
    assert rule.kind is RuleKind.RELIABLE
    assert rule.threshold == pytest.approx(9.2969, abs=1e-4)
    assert onsets([40, 31], only(rule)) == ()
    assert onsets([40, 30], only(rule)) == (1,)


def test_cutoff_rule_srs_36_or_below_with_and_without_equality() -> None:
    assert onsets([38, 36], only(RuptureRule.at_or_below(36))) == (1,)
    assert onsets([38, 36], only(RuptureRule.at_or_below(36, inclusive=False))) == ()
    assert onsets([38, 35.9], only(RuptureRule.at_or_below(36, inclusive=False))) == (1,)


def test_cutoff_rule_a_low_score_without_a_fall_is_not_a_rupture() -> None:
    assert onsets([30, 30, 30], only(RuptureRule.at_or_below(36))) == ()
    assert onsets([30, 29], only(RuptureRule.at_or_below(36))) == (1,)


def test_cutoff_rule_repair_needs_the_score_back_above_the_cutoff() -> None:
    config = only(RuptureRule.at_or_below(36))
    # 35 is within 15% of 38 but still at or below 36.
    assert ruptures_in_series([38, 35, 35, 37], config=config).repairs == (3,)
    found = ruptures_in_series([38, 35, 35, 35, 35], config=config)
    assert (found.repairs, found.unrepaired) == ((), (4,))


def test_all_of_percent_drop_and_at_least_2_points() -> None:
    both = RuptureConfig(
        rules=(RuptureRule.percent_drop(), RuptureRule.points_drop(2)), combine="all"
    )
    either = RuptureConfig(rules=both.rules, combine="any")
    assert onsets([10, 8], both) == (1,)
    assert onsets([10, 8.5], both) == ()  # 15%, but only 1.5 points
    assert onsets([10, 8.5], either) == (1,)


def test_openfit_baseline_a_drop_of_1_point_or_a_fall_below_36() -> None:
    # SPECS 8: SRS below 36 is red; a drop of 1 point or more from the previous session is red.
    assert onsets([38, 37], OPENFIT_BASELINE) == (1,)
    assert onsets([36.5, 35.9], OPENFIT_BASELINE) == (1,)
    assert onsets([38, 37.5, 37, 36.5, 36], OPENFIT_BASELINE) == ()
    # 34.3 − 33.3 is 0.99999999999999645 in floating point: still a 1-point drop.
    assert onsets([34.3, 33.3], OPENFIT_BASELINE) == (1,)
    # Repair is a return to the pre-rupture level, and not below 36.
    assert ruptures_in_series([38, 37, 37.9, 38], config=OPENFIT_BASELINE).repairs == (3,)


# --- Repair -----------------------------------------------------------------------------------


def test_repair_within_n_rated_sessions_and_unrepaired_after_them() -> None:
    # Onset at 42 after 52; back within 15% (≥ 44.2) at the third rated session after it.
    series = [50, 52, 42, 40, 41, 45]
    assert ruptures_in_series(series).periods == (RupturePeriod(2, "", 10.0, 5, "repaired"),)
    late = ruptures_in_series(series, config=RuptureConfig(repair_within=2))
    assert late.unrepaired == (4,)
    assert late.periods == (RupturePeriod(2, "", 10.0, None, "unrepaired"),)


def test_repair_tolerance_zero_needs_the_pre_rupture_level_itself() -> None:
    config = RuptureConfig(repair_tolerance=0.0)
    assert ruptures_in_series([52, 42, 51, 52], config=config).repairs == (3,)


def test_an_open_rupture_is_pending_until_the_episode_ends() -> None:
    ongoing = ruptures_in_series([50, 52, 42, 40])
    assert ongoing.pending
    assert ongoing.periods[0].status == "pending"
    ended = ruptures_in_series([50, 52, 42, 40], ended=True)
    assert not ended.pending
    assert ended.periods[0].status == "unrepaired"
    found = ruptures(np.array([[50, 52, 42, 40], [50, 52, 42, 40]]), ended=[False, True])
    assert found.pending.tolist() == [True, False]
    assert found.unrepaired_counts.tolist() == [0, 1]
    assert found.rupture_counts.tolist() == [1, 1]


def test_a_new_rupture_can_begin_after_an_unrepaired_one_closes() -> None:
    config = RuptureConfig(repair_within=1)
    # 40 after 50 is unrepaired at 39; 30 after 39 begins a second rupture, repaired by 40.
    found = ruptures_in_series([50, 40, 39, 30, 40], config=config)
    assert found.ruptures == (1, 3)
    assert found.unrepaired == (2,)
    assert found.repairs == (4,)
    assert [p.status for p in found.periods] == ["unrepaired", "repaired"]


# --- Missing sessions -------------------------------------------------------------------------


def test_missing_sessions_compare_with_the_last_rated_session() -> None:
    found = ruptures_in_series([50, 52, NA, 42, math.nan, 51])
    assert (found.ruptures, found.repairs) == ((3,), (5,))


def test_missed_sessions_do_not_use_up_the_repair_window() -> None:
    found = ruptures_in_series([50, 52, 42, NA, NA, NA, 40, 41, 45])
    assert found.repairs == (8,)


# --- Subscales --------------------------------------------------------------------------------


def test_subscale_rule_a_drop_in_bond_alone_is_a_rupture_named_bond_and_repaired_on_bond() -> None:
    total = [50, 50, 48, 49]
    subscales = {"bond": [16, 16, 12, 14], "goals": [17, 17, 18, 17], "tasks": [17, 17, 18, 18]}
    config = only(RuptureRule.percent_drop(scale=SUBSCALES))
    found = ruptures_in_series(total, subscales, config=config)
    # bond 16 → 12 is 25%; 14 is back within 15% of 16 (13.6).
    assert found.periods == (RupturePeriod(2, "bond", 4.0, 3, "repaired"),)
    assert onsets(total) == ()
    goals_only = only(RuptureRule.percent_drop(scale="goals"))
    assert ruptures_in_series(total, subscales, config=goals_only).ruptures == ()


def test_a_rule_on_its_own_begins_a_rupture_whatever_combine_says() -> None:
    # "A 15% drop and at least 4 points" on the total, or a bond fall of more than 2 points.
    strict = RuptureConfig(
        rules=(RuptureRule.percent_drop(), RuptureRule.points_drop(4)),
        combine="all",
        on_their_own=(RuptureRule(RuleKind.RELIABLE, 2.0, scale="bond", inclusive=False),),
    )
    subscales = {"bond": [6, 3, 6], "goals": [4, 5, 4], "tasks": [4, 6, 4]}
    found = ruptures_in_series([17, 17, 17], subscales, config=strict)
    # bond 6 → 3 is a rupture on the bond, repaired on the bond when it is back at 6.
    assert found.periods == (RupturePeriod(1, "bond", 3.0, 2, "repaired"),)
    # A bond fall of exactly 2 is not more than 2; the total's rules still need both.
    assert ruptures_in_series([17, 17], {"bond": [6, 4]}, config=strict).ruptures == ()
    assert ruptures_in_series([20, 17], {"bond": [6, 6]}, config=strict).ruptures == ()
    assert ruptures_in_series([20, 16], {"bond": [6, 6]}, config=strict).periods[0].subscale == ""


def test_subscale_attribution_is_the_largest_fall_relative_to_its_previous_score() -> None:
    # Total 52 → 42 drives it; goals fell 23.5%, tasks 17.6%, bond 11.1%.
    subscales = {"bond": [18, 16], "goals": [17, 13], "tasks": [17, 14]}
    found = ruptures_in_series([52, 42], subscales)
    assert found.periods[0].subscale == "goals"
    two_d = ruptures(np.array([[52.0, 42.0]]), {k: np.array([v]) for k, v in subscales.items()})
    assert two_d.rupture_subscale.tolist() == [[-1, 1]]
    assert two_d.rupture_subscale_names().tolist() == [["", "goals"]]


def test_subscale_attribution_is_empty_without_subscales_or_when_none_fell() -> None:
    assert ruptures_in_series([52, 42]).periods[0].subscale == ""
    rising = {"bond": [14, 15], "goals": [14, 15], "tasks": [14, 15]}
    assert ruptures_in_series([52, 42], rising).periods[0].subscale == ""


def test_a_rule_on_a_subscale_that_was_not_given_is_an_error() -> None:
    with pytest.raises(ValueError, match="no subscale scores were given"):
        ruptures_in_series([50, 40], config=only(RuptureRule.percent_drop(scale=SUBSCALES)))
    with pytest.raises(ValueError, match="'bond'"):
        ruptures_in_series(
            [50, 40], {"goals": [1, 2]}, config=only(RuptureRule.percent_drop(scale="bond"))
        )


def test_invalid_rules_and_configs_are_rejected() -> None:
    with pytest.raises(ValueError, match="share"):
        RuptureRule.percent_drop(15)
    with pytest.raises(ValueError, match="repair_within"):
        RuptureConfig(repair_within=0)
    with pytest.raises(ValueError, match="at least one"):
        RuptureConfig(rules=())
    with pytest.raises(ValueError, match="shape"):
        ruptures(np.zeros((2, 3)), {"bond": np.zeros((2, 4))})


# --- A plain reading of the documented rules, to check the vectorised code against ------------


def _holds(rule: RuptureRule, x: float, earlier: list[float]) -> bool:
    if not earlier or not x < earlier[-1]:
        return False
    eps = 1e-9
    if rule.kind is RuleKind.CUTOFF:
        return x <= rule.threshold + eps if rule.inclusive else x < rule.threshold - eps
    ref = earlier[-1] if rule.reference is Reference.PREVIOUS else statistics.fmean(earlier)
    drop = ref - x
    if rule.kind is RuleKind.PERCENT:
        drop = drop / ref if ref > 0 else -math.inf
    elif rule.kind is RuleKind.SD:
        if len(earlier) < rule.min_sessions:
            return False
        drop -= rule.threshold * max(statistics.stdev(earlier), rule.sd_floor)
        return drop >= -eps if rule.inclusive else drop > eps
    return drop >= rule.threshold - eps if rule.inclusive else drop > rule.threshold + eps


def _plain(series: Series, config: RuptureConfig) -> tuple[list[int], list[int], list[int]]:
    """Total-only rules, one session at a time, as docs/alliance.md states them."""
    onset, repaired, unrepaired = [], [], []
    earlier: list[float] = []
    is_open, level, rated = False, 0.0, 0
    cutoffs = [r for r in config.rules if r.kind is RuleKind.CUTOFF]
    for t, value in enumerate(series):
        if value is None or math.isnan(value):
            continue
        if is_open:
            rated += 1
            above = not any(_holds(r, value, [math.inf]) for r in cutoffs)
            if value >= (1 - config.repair_tolerance) * level - 1e-9 and above:
                repaired.append(t)
                is_open = False
            elif rated >= config.repair_within:
                unrepaired.append(t)
                is_open = False
        met = [_holds(r, value, earlier) for r in config.rules]
        if (any(met) if config.combine == "any" else all(met)) and not is_open:
            onset.append(t)
            is_open, level, rated = True, earlier[-1], 0
        earlier.append(value)
    return onset, repaired, unrepaired


CONFIGS = [
    STRAUSS_2006,
    OPENFIT_BASELINE,
    stiles_2004(sd_floor=1.0),
    RuptureConfig(repair_within=1, repair_tolerance=0.0),
    only(RuptureRule.percent_drop(0.1, reference=Reference.MEAN)),
    only(RuptureRule.reliable_drop(sd=5.0, reliability=0.8), repair_within=2),
    only(RuptureRule.at_or_below(30)),
    RuptureConfig(rules=(RuptureRule.percent_drop(), RuptureRule.points_drop(4)), combine="all"),
]
scores = st.lists(st.one_of(st.none(), st.integers(20, 40).map(float)), max_size=14)


@settings(max_examples=150, deadline=None)
@given(series=scores, which=st.integers(0, len(CONFIGS) - 1))
def test_vectorised_rules_agree_with_a_plain_session_by_session_reading(
    series: list[float | None], which: int
) -> None:
    config = CONFIGS[which]
    found = ruptures_in_series(series, config=config)
    onset, repaired, unrepaired = _plain(series, config)
    assert (list(found.ruptures), list(found.repairs), list(found.unrepaired)) == (
        onset,
        repaired,
        unrepaired,
    )


# --- Real time, and the 2-D path against the series path --------------------------------------

session = st.one_of(st.none(), st.integers(0, 20).map(float))
episodes = st.lists(st.tuples(session, session, session), min_size=1, max_size=12)


@settings(max_examples=100, deadline=None)
@given(rows=episodes, extra=episodes, which=st.integers(0, 3))
def test_real_time_appending_sessions_never_changes_an_earlier_flag(
    rows: list[tuple[float | None, ...]], extra: list[tuple[float | None, ...]], which: int
) -> None:
    config = [
        STRAUSS_2006,
        stiles_2004(sd_floor=0.5, min_sessions=2),
        RuptureConfig(
            rules=(RuptureRule.points_drop(3), RuptureRule.percent_drop(0.2, scale=SUBSCALES))
        ),
        RuptureConfig(
            on_their_own=tuple(
                RuptureRule(RuleKind.RELIABLE, 2.2, scale=name, inclusive=False)
                for name in ("bond", "goals", "tasks")
            )
        ),
    ][which]

    def run(part: list[tuple[float | None, ...]]) -> alliance.Ruptures:
        array = np.array([[math.nan if v is None else v for v in r] for r in part]).T
        total = np.nansum(array, axis=0, keepdims=True)
        total[:, np.isnan(array).any(axis=0)] = math.nan
        names = ("bond", "goals", "tasks")
        return ruptures(total, {n: array[[i]] for i, n in enumerate(names)}, config=config)

    short, full = run(rows), run(rows + extra)
    n = len(rows)
    for name in ("rupture", "repair", "unrepaired", "rupture_subscale"):
        assert getattr(full, name)[:, :n].tolist() == getattr(short, name).tolist()
    np.testing.assert_array_equal(full.depth[:, :n], short.depth)


def test_the_2d_path_equals_the_series_path_row_by_row_across_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(alliance, "_ROWS_PER_CHUNK", 7)
    rng = np.random.default_rng(4)
    shape = (40, 10)
    subscales = {k: np.round(rng.normal(14, 3, shape)) for k in ("bond", "goals", "tasks")}
    total = sum(subscales.values(), np.zeros(shape))
    total[rng.random(shape) < 0.15] = np.nan
    config = RuptureConfig(
        rules=(RuptureRule.percent_drop(), RuptureRule.sd_drop(1.5, scale=SUBSCALES))
    )
    ended = rng.random(shape[0]) < 0.5
    found = ruptures(total, subscales, config=config, ended=ended)
    assert found.rupture.any()
    assert found.repair.any()
    for i in range(shape[0]):
        one = ruptures_in_series(
            total[i].tolist(),
            {k: v[i].tolist() for k, v in subscales.items()},
            config=config,
            ended=bool(ended[i]),
        )
        assert one.ruptures == tuple(np.flatnonzero(found.rupture[i]))
        assert one.repairs == tuple(np.flatnonzero(found.repair[i]))
        assert one.unrepaired == tuple(np.flatnonzero(found.unrepaired[i]))
        assert one.periods == found.periods(i)
    counts = [len(found.periods(i)) for i in range(shape[0])]
    assert found.rupture_counts.tolist() == counts


# --- Client-clinician discrepancy -------------------------------------------------------------


def test_discrepancy_is_client_minus_clinician_and_flags_a_clinician_notably_higher() -> None:
    found = discrepancy_in_series(
        [40, 30, NA, 30],
        [42, 38, 35, 35],
        threshold=5,
        client_subscales={"bond": [10, 6, NA, 8]},
        clinician_subscales={"bond": [10, 9, 9, 9]},
    )
    assert found.difference == (-2.0, -8.0, None, -5.0)
    assert found.subscale_differences == {"bond": (0.0, -3.0, None, -1.0)}
    assert found.clinician_higher == (1,)  # more than 5 points: exactly 5 is not flagged


def test_discrepancy_threshold_can_be_a_reliable_change_value() -> None:
    rcv = reliable_change_value(7.5, 0.8)  # 9.2969 (SPECS 1.3)
    found = discrepancy(np.array([[40.0, 40.0]]), np.array([[49.0, 50.0]]), threshold=rcv)
    assert found.clinician_higher.tolist() == [[False, True]]


def test_discrepancy_needs_matching_shapes_and_subscales() -> None:
    with pytest.raises(ValueError, match="align them"):
        discrepancy(np.zeros((1, 2)), np.zeros((1, 3)), threshold=1)
    with pytest.raises(ValueError, match="same subscales"):
        discrepancy(
            np.zeros((1, 2)), np.zeros((1, 2)), threshold=1, client_subscales={"bond": [[1, 2]]}
        )


# --- Rupture accuracy for the backtest --------------------------------------------------------


def test_rupture_accuracy_matches_onsets_within_one_session() -> None:
    found = rupture_accuracy([0, 1, 0, 0, 1, 0], [0, 0, 1, 0, 0, 0])
    assert (found.matched, found.detected, found.true) == (1, 2, 1)
    assert (found.precision, found.recall) == (0.5, 1.0)
    assert (found.false_positives, found.false_negatives) == (1, 0)


def test_rupture_accuracy_matches_each_true_rupture_at_most_once() -> None:
    found = rupture_accuracy([0, 1, 0, 1, 0], [0, 0, 1, 0, 0])
    assert (found.matched, found.precision, found.recall) == (1, 0.5, 1.0)


def test_rupture_accuracy_finds_the_largest_matching() -> None:
    # Detected at 2 could take the true onset at 1 or 3; taking 1 leaves 3 for the one at 4.
    found = rupture_accuracy([0, 0, 1, 0, 1, 0], [0, 1, 0, 1, 0, 0])
    assert (found.matched, found.precision, found.recall) == (2, 1.0, 1.0)


def test_rupture_accuracy_tolerance_zero_and_rows_kept_apart() -> None:
    assert rupture_accuracy([0, 1, 0], [0, 0, 1], tolerance=0).matched == 0
    assert rupture_accuracy([0, 1, 0], [0, 0, 1], tolerance=1).matched == 1
    found = rupture_accuracy([[1, 0, 0], [0, 0, 0]], [[0, 0, 0], [1, 0, 0]])
    assert (found.matched, found.detected, found.true) == (0, 1, 1)


def test_rupture_accuracy_is_undefined_without_detections_or_true_ruptures() -> None:
    found = rupture_accuracy([0, 0, 0], [0, 1, 0])
    assert math.isnan(found.precision)
    assert found.recall == 0.0
    assert math.isnan(rupture_accuracy([1, 0], [0, 0]).recall)
