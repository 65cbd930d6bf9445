"""Reliable change indices against the published values of SPECS 1.1 and 1.3."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ally.change.reliable import (
    Z_975,
    Method,
    ReliableChange,
    SampleStats,
    cronbach_alpha,
    is_deteriorated,
    is_improved,
    reliable_change,
    reliable_change_value,
    s_diff,
    sample_stats,
    sem,
)
from ally.measures.schema import Direction

PrePost = tuple[list[float], list[float]]
LOWER = Direction.LOWER_IS_BETTER.sign

# SPECS 1.3: claus_2020 HAMD, time 1 vs 4, r .80 (NK: r_post .5); ids 1-3 are pre 25/15/28,
# post 13/11/4. Values printed by clinicalsignificance's cs_distribution() for each method.
HAMD_INDEX_IDS_1_TO_3 = {
    Method.JT: (-5.6805, -1.8935, -11.3611),
    Method.GLN: (-5.9728, -2.9789, -11.6613),
    Method.HLL: (-1.0454, 1.9485, -6.7338),
    Method.EN: (-8.0134, -3.9967, -15.6452),
    Method.NK: (-4.5222, -2.2554, -8.8291),
    Method.HA: (-5.8210, -2.1724, -11.2940),
}

finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False)
STATS = SampleStats(n=40, m_pre=24.85, sd_pre=3.34, m_post=14.975, sd_post=7.71, r12=0.16)


def hamd_fit(hamd: PrePost, method: Method) -> ReliableChange:
    reliability_post = 0.5 if method is Method.NK else None
    return reliable_change(method, sample_stats(*hamd), 0.80, reliability_post)


def test_hamd_sample_statistics_match_specs(hamd: PrePost) -> None:
    stats = sample_stats(*hamd)
    assert stats.n == 40
    assert round(stats.m_pre, 2) == 24.85
    assert round(stats.sd_pre, 4) == 3.3401
    assert round(stats.m_post, 3) == 14.975
    assert round(stats.sd_post, 4) == 7.7111
    assert round(stats.r12, 4) == 0.1631
    assert round(reliable_change(Method.HA, stats, 0.80).r_dd, 4) == 0.9283


@pytest.mark.parametrize("method", list(Method))
def test_hamd_index_of_ids_1_to_3_matches_clinicalsignificance(
    hamd: PrePost, method: Method
) -> None:
    fitted = hamd_fit(hamd, method)
    pre, post = hamd
    assert (pre[:3], post[:3]) == ([25, 15, 28], [13, 11, 4])
    got = tuple(round(fitted.index(a, b), 4) for a, b in zip(pre[:3], post[:3], strict=True))
    assert got == HAMD_INDEX_IDS_1_TO_3[method]


def test_bdi_worked_example_constants(bdi: PrePost) -> None:
    # SPECS 1.1: SD_pre 8.1586, SEM 3.6395, S_diff 5.1471, so a change of >= 10.09 is needed.
    pairs = [(a, b) for a, b in zip(*bdi, strict=True) if not (math.isnan(a) or math.isnan(b))]
    stats = sample_stats([a for a, _ in pairs], [b for _, b in pairs])
    fitted = reliable_change(Method.JT, stats, 0.801)
    assert round(stats.sd_pre, 4) == 8.1586
    assert round(fitted.sem, 4) == 3.6395
    assert round(fitted.s_diff, 4) == 5.1471
    assert round(fitted.critical * fitted.s_diff, 2) == 10.09
    # Patient 9 (23 -> 8) and patient 1 (33 -> 27).
    assert round(fitted.index(23.0, 8.0), 2) == -2.91
    assert round(fitted.index(33.0, 27.0), 2) == -1.17


def test_reliable_change_value_of_specs_constant() -> None:
    # SPECS 1.3: z.975 · 7.5 · sqrt(2(1 - .8)).
    assert reliable_change_value(7.5, 0.8) == pytest.approx(9.296925484568419, rel=1e-15)


def test_sgdata_baseline_reliable_change_matches_suddengains(sgdata: pd.DataFrame) -> None:
    # suddengains tests/testthat/test-define_crit1_cutoff.R: sgdata$bdi_s0, reliability .931.
    # define_crit1_cutoff() multiplies by the rounded 1.96, so the test passes z=1.96.
    sd = pd.Series(sgdata["bdi_s0"]).std(ddof=1)
    assert round(sd, 6) == 6.396073
    assert round(sem(sd, 0.931), 6) == 1.680111
    assert round(s_diff(sd, 0.931), 6) == 2.376036
    assert round(reliable_change_value(sd, 0.931, z=1.96), 5) == 4.65703


def test_reliable_change_value_of_given_sd_matches_suddengains() -> None:
    # Same test file: sd 10.5, reliability .961.
    assert round(sem(10.5, 0.961), 6) == 2.073584
    assert round(s_diff(10.5, 0.961), 5) == 2.93249
    assert round(reliable_change_value(10.5, 0.961, z=1.96), 6) == 5.747681


def test_critical_value_is_the_exact_normal_quantile() -> None:
    # clinicalsignificance v3 uses qnorm(1 - alpha/2), and qnorm(1 - alpha) for HA.
    assert reliable_change(Method.JT, STATS, 0.8).critical == pytest.approx(1.959963984540054)
    assert reliable_change(Method.HA, STATS, 0.8).critical == pytest.approx(1.6448536269514722)
    assert pytest.approx(1.959963984540054) == Z_975


def test_improvement_is_strictly_beyond_the_critical_value() -> None:
    assert not is_improved(-1.96, LOWER, 1.96)
    assert is_improved(-1.9600001, LOWER, 1.96)
    assert not is_deteriorated(1.96, LOWER, 1.96)
    assert is_deteriorated(1.9600001, LOWER, 1.96)
    # Higher is better: a rise is an improvement.
    assert is_improved(2.5, Direction.HIGHER_IS_BETTER.sign, 1.96)
    assert is_deteriorated(-2.5, Direction.HIGHER_IS_BETTER.sign, 1.96)


def test_nk_post_reliability_defaults_to_the_pre_reliability() -> None:
    assert reliable_change(Method.NK, STATS, 0.8).reliability_post == 0.8


def test_sample_stats_rejects_unpaired_or_too_few_scores() -> None:
    with pytest.raises(ValueError, match="one pre and one post"):
        sample_stats([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="at least 3"):
        sample_stats([1, 2], [1, 2])


def test_reliability_outside_zero_to_one_is_rejected() -> None:
    with pytest.raises(ValueError, match="reliability"):
        reliable_change(Method.JT, STATS, 1.0)


def test_ha_with_nonpositive_difference_reliability_is_rejected() -> None:
    # A post SD far below the SEM makes r_dd negative.
    stats = SampleStats(n=10, m_pre=20, sd_pre=10, m_post=15, sd_post=1, r12=0.9)
    with pytest.raises(ValueError, match="r_dd"):
        reliable_change(Method.HA, stats, 0.5)


@pytest.mark.parametrize("method", list(Method))
def test_index_on_numpy_arrays_equals_the_scalar_index(hamd: PrePost, method: Method) -> None:
    fitted = hamd_fit(hamd, method)
    pre, post = np.array(hamd[0]), np.array(hamd[1])
    columns = fitted.index(pre, post)
    scalars = [fitted.index(a, b) for a, b in zip(hamd[0], hamd[1], strict=True)]
    assert columns.tolist() == scalars
    improved = is_improved(columns, LOWER, fitted.critical)
    assert improved.tolist() == [is_improved(x, LOWER, fitted.critical) for x in scalars]


def test_index_and_rules_on_ibis_columns_equal_the_scalar_path() -> None:
    ibis = pytest.importorskip("ibis")
    pre, post = [25.0, 15.0, 28.0], [13.0, 11.0, 4.0]
    table = ibis.memtable(pd.DataFrame({"pre": pre, "post": post}))
    fitted = reliable_change(Method.HA, STATS, 0.8)
    index = fitted.index(table.pre, table.post)
    result = table.mutate(
        index=index,
        improved=is_improved(index, LOWER, fitted.critical),
        deteriorated=is_deteriorated(index, LOWER, fitted.critical),
    ).execute()
    expected = [fitted.index(a, b) for a, b in zip(pre, post, strict=True)]
    assert result["index"].tolist() == pytest.approx(expected, rel=1e-12)
    assert result["improved"].tolist() == [is_improved(x, LOWER, fitted.critical) for x in expected]
    assert result["deteriorated"].tolist() == [False, False, False]


@given(pre=finite, post=finite)
def test_jt_index_is_antisymmetric_in_pre_and_post(pre: float, post: float) -> None:
    fitted = reliable_change(Method.JT, STATS, 0.8)
    assert fitted.index(pre, post) == -fitted.index(post, pre)


@given(pre=finite, post=finite, method=st.sampled_from(list(Method)))
def test_index_of_a_float_equals_index_of_a_one_element_array(
    pre: float, post: float, method: Method
) -> None:
    fitted = reliable_change(method, STATS, 0.8)
    scalar = fitted.index(pre, post)
    array = fitted.index(np.array([pre]), np.array([post]))
    assert array.shape == (1,)
    assert array[0] == scalar
    assert is_improved(array, LOWER, fitted.critical)[0] == is_improved(
        scalar, LOWER, fitted.critical
    )


def test_cronbach_alpha_of_parallel_items_is_one_and_of_independent_items_near_zero() -> None:
    rng = np.random.default_rng(5)
    true = rng.normal(0, 1, 2000)
    parallel = np.column_stack([true, true, true])
    independent = rng.normal(0, 1, (2000, 4))

    def alpha(items: np.ndarray) -> float:
        return cronbach_alpha(list(items.var(axis=0, ddof=1)), items.sum(axis=1).var(ddof=1))

    assert alpha(parallel) == pytest.approx(1.0)
    assert abs(alpha(independent)) < 0.05


def test_cronbach_alpha_matches_its_formula_on_a_hand_made_table() -> None:
    # Items with variances 1, 1, 2 and a total variance of 8: 3/2 · (1 − 4/8) = .75.
    assert cronbach_alpha([1.0, 1.0, 2.0], 8.0) == pytest.approx(0.75)


def test_cronbach_alpha_refuses_a_constant_total() -> None:
    with pytest.raises(ValueError, match="does not vary"):
        cronbach_alpha([0.0, 0.0], 0.0)
