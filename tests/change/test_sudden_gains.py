"""Sudden gains and losses against the suddengains R package (Wiedemann et al. 2020)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ally.change import sudden_gains
from ally.change.sudden_gains import sudden_changes, sudden_changes_in_series, t_critical
from ally.measures.schema import Direction

LOWER = Direction.LOWER_IS_BETTER
HIGHER = Direction.HIGHER_IS_BETTER
NA = math.nan
BDI_SESSIONS = [f"bdi_s{i}" for i in range(1, 13)]


def test_critical_t_values_match_r_qt() -> None:
    # R: abs(qt(0.025, df)) for df 2, 3, 4: the 4.303, 3.182 and 2.776 of Lutz et al. (2013).
    assert t_critical(0.05, 2) == pytest.approx(4.302652729749464, abs=1e-9)
    assert t_critical(0.05, 3) == pytest.approx(3.182446305284263, abs=1e-9)
    assert t_critical(0.05, 4) == pytest.approx(2.776445105197799, abs=1e-9)
    assert t_critical(0.01, 4) == pytest.approx(4.604094871415897, abs=1e-9)
    assert t_critical(0.05, 1) == pytest.approx(12.70620473617471, abs=1e-9)


def test_sgdata_has_24_sudden_gains_in_15_people(sgdata: pd.DataFrame) -> None:
    # suddengains tutorial vignette (describe_sg on create_bysg/create_byperson of sgdata,
    # bdi_s1..bdi_s12, sg_crit1_cutoff = 7, 25%, crit 3 at alpha .05): 24 gains, 15 of 43 people
    # with a gain, 8 with more than one, magnitude M 11 (SD 3.43).
    scores = sgdata[BDI_SESSIONS].to_numpy(dtype=float)
    found = sudden_changes(scores, cutoff=7, direction=LOWER)
    assert int(found.gains.sum()) == 24
    assert int((found.gain_counts > 0).sum()) == 15
    assert int((found.gain_counts > 1).sum()) == 8
    magnitude = (scores[:, :-1] - scores[:, 1:])[found.gains]
    assert round(float(magnitude.mean()), 2) == 11
    assert round(float(magnitude.std(ddof=1)), 2) == 3.43


def test_sgdata_has_298_analysable_intervals(sgdata: pd.DataFrame) -> None:
    # suddengains reference for count_intervals(sgdata, bdi_s1..bdi_s12): 387 intervals can
    # hold a gain (43 × 9), 298 are analysable and 89 are not because of missing data.
    found = sudden_changes(sgdata[BDI_SESSIONS].to_numpy(dtype=float), cutoff=7, direction=LOWER)
    assert found.analysable.shape == (43, 11)
    assert int(found.analysable.sum()) == 298
    assert 43 * 9 - int(found.analysable.sum()) == 89


def test_sgdata_id_5_first_gains_at_session_3_and_largest_at_session_8(
    sgdata: pd.DataFrame,
) -> None:
    # suddengains tutorial: "The first gain experienced by ID 5 is from session 3 to 4, whereas
    # the largest gain was experienced from session 8 to 9."
    series = sgdata.loc[sgdata["id"] == 5, BDI_SESSIONS].iloc[0].tolist()
    found = sudden_changes_in_series(series, cutoff=7, direction=LOWER)
    sessions = [position + 1 for position in found.gains]
    assert sessions[0] == 3
    magnitude = {s: series[s - 1] - series[s] for s in sessions}
    assert max(magnitude, key=magnitude.__getitem__) == 8


# suddengains tests/testthat/test-identify_sg.R, df1: columns x_2n .. x_n3, cut-off 7.
DF1 = [
    [28, 19, 23, 12, 13, NA],
    [28, 19, 23, 11, 12, NA],
    [28, 19, NA, 12, 13, NA],
    [28, 19, 23, 12, 13, NA],
    [28, 19, 23, 12, 14, NA],
    [28, 19, NA, 12, 13, NA],
    [28, 19, 23, 11, 12, NA],
    [28, 25, 28, 11, 12, NA],
    [28, 26, 28, 11, 12, NA],
    [NA, 26, 28, NA, 12, 11],
]
# Expected sg_2to3, sg_3to4, sg_4to5 (1-based columns): 1 gain, 0 none, None = NA.
DF1_EXPECTED = [
    [0, 0, None],
    [0, 1, None],
    [None, None, None],
    [0, 0, None],
    [0, 0, None],
    [None, None, None],
    [0, 1, None],
    [0, 1, None],
    [0, 1, None],
    [None, None, None],
]


def test_identify_sg_test_data_1_of_suddengains() -> None:
    found = sudden_changes(np.array(DF1), cutoff=7, direction=LOWER)
    got = [
        [int(found.gains[i, j]) if found.analysable[i, j] else None for j in (1, 2, 3)]
        for i in range(len(DF1))
    ]
    assert got == DF1_EXPECTED


def test_identify_sg_and_sl_test_data_2_of_suddengains() -> None:
    # test-identify_sg.R df2 and test-identify_sl.R df2 (cut-off 7 / -7).
    gains_data = [
        [35, 37, 23, 23, 24, 21],
        [35, 37, 34, 24, 24, 21],
        [35, 37, 34, 34, 24, 21],
        [35, 37, 34, 37, 37, 37],
    ]
    found = sudden_changes(np.array(gains_data), cutoff=7, direction=LOWER)
    assert found.gains[:, 1:4].astype(int).tolist() == [
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
        [0, 0, 0],
    ]
    losses_data = [
        [10, 11, 12, 30, 28, 33],
        [10, 11, 12, 10, 28, 33],
        [10, 11, 30, 30, 28, 33],
        [35, 37, 34, 23, 24, 21],
    ]
    found = sudden_changes(np.array(losses_data), cutoff=7, direction=LOWER)
    assert found.losses[:, 1:4].astype(int).tolist() == [
        [0, 1, 0],
        [0, 0, 1],
        [1, 0, 0],
        [0, 0, 0],
    ]


def test_check_interval_examples_of_the_suddengains_tutorial() -> None:
    # check_interval(pre 32, 31, 33; post 5, 6, 7; cut-off 7): a sudden gain at alpha .05.
    assert sudden_changes_in_series([32, 31, 33, 5, 6, 7], cutoff=7, direction=LOWER).gains == (2,)
    # Only criterion 3, one value missing on each side, alpha .01: t(2 df) = 9.925, still a gain.
    found = sudden_changes_in_series(
        [None, 31, 33, 5, None, 7], cutoff=None, pct=None, direction=LOWER, alpha=0.01
    )
    assert found.gains == (2,)


def test_missing_values_raise_the_critical_value() -> None:
    # All six present: means 20 vs 10.5, pooled SD 2.76, 9.5 > 2.776·2.76. One missing on each
    # side: means 21.5 vs 10.5, pooled SD 2.92, 11 < 4.303·2.92 but 11 > 2.776·2.92.
    full = [17.0, 20.0, 23.0, 13.0, 10.5, 8.0]
    assert sudden_changes_in_series(full, cutoff=None, pct=None, direction=LOWER).gains == (2,)
    gappy = [None, 20.0, 23.0, 13.0, 8.0, None]
    crit3_only = sudden_changes_in_series(gappy, cutoff=None, pct=None, direction=LOWER)
    assert crit3_only.analysable == (2,)
    unadjusted = sudden_changes_in_series(
        gappy, cutoff=None, pct=None, direction=LOWER, adjust_for_missing=False
    )
    assert crit3_only.gains == ()
    assert unadjusted.gains == (2,)


def test_a_window_with_fewer_than_two_values_is_not_analysable() -> None:
    found = sudden_changes_in_series([None, None, 30, 10, 9, 8], cutoff=7, direction=LOWER)
    assert found.analysable == (3,)
    assert found.gains == ()


def test_first_and_last_intervals_are_never_tested() -> None:
    found = sudden_changes(
        np.array([[30, 10, 10, 10, 10, 0]]), cutoff=7, direction=LOWER, crit3=False
    )
    assert not found.analysable[0, 0]
    assert not found.analysable[0, -1]
    assert not found.gains[0, 0]
    assert not found.gains[0, -1]


def test_a_sudden_gain_on_a_higher_is_better_scale_is_a_rise() -> None:
    series = [20.0, 21.0, 20.0, 35.0, 36.0, 35.0]
    assert sudden_changes_in_series(series, cutoff=7, direction=HIGHER).gains == (2,)
    assert sudden_changes_in_series(series, cutoff=7, direction=LOWER).losses == (2,)


def test_at_least_one_criterion_is_required() -> None:
    with pytest.raises(ValueError, match="at least one criterion"):
        sudden_changes(np.zeros((1, 6)), cutoff=None, pct=None, crit3=False, direction=LOWER)


def test_results_do_not_depend_on_the_chunk_size(
    sgdata: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    scores = sgdata[BDI_SESSIONS].to_numpy(dtype=float)
    whole = sudden_changes(scores, cutoff=7, direction=LOWER)
    monkeypatch.setattr(sudden_gains, "_ROWS_PER_CHUNK", 5)
    chunked = sudden_changes(scores, cutoff=7, direction=LOWER)
    assert np.array_equal(whole.gains, chunked.gains)
    assert np.array_equal(whole.analysable, chunked.analysable)


scores = st.lists(
    st.one_of(st.none(), st.integers(min_value=0, max_value=63).map(float)), min_size=4, max_size=10
)


@given(series=scores)
def test_losses_on_a_lower_is_better_scale_are_gains_on_a_higher_is_better_one(
    series: list[float | None],
) -> None:
    lower = sudden_changes_in_series(series, cutoff=5, direction=LOWER)
    higher = sudden_changes_in_series(series, cutoff=5, direction=HIGHER)
    assert lower.losses == higher.gains
    assert lower.gains == higher.losses


series_of_8 = st.lists(
    st.one_of(st.none(), st.integers(min_value=0, max_value=63).map(float)), min_size=8, max_size=8
)


@given(rows=st.lists(series_of_8, min_size=1, max_size=5))
def test_the_series_wrapper_agrees_with_the_two_dimensional_version(
    rows: list[list[float | None]],
) -> None:
    matrix = np.array([[NA if v is None else v for v in row] for row in rows], dtype=float)
    found = sudden_changes(matrix, cutoff=5, direction=LOWER)
    for i, row in enumerate(rows):
        one = sudden_changes_in_series(row, cutoff=5, direction=LOWER)
        assert one.gains == tuple(int(j) for j in np.flatnonzero(found.gains[i]))
        assert one.losses == tuple(int(j) for j in np.flatnonzero(found.losses[i]))
