"""Segments of sorted columns: each helper on small hand-built rows, one rule a test."""

from __future__ import annotations

import numpy as np
import pytest

from ally.change import series
from ally.change.series import Segments, blocks, starts_of


def _segments(*sizes: int) -> Segments:
    """Segments of these sizes, one after another."""
    return Segments(starts_of(np.repeat(np.arange(len(sizes)), sizes)))


def test_a_segment_starts_on_the_first_row_and_wherever_any_key_changes() -> None:
    episode = np.array([1, 1, 1, 2, 2, 2])
    measure = np.array([0, 0, 1, 1, 1, 0])
    assert starts_of(episode).tolist() == [True, False, False, True, False, False]
    assert starts_of(episode, measure).tolist() == [True, False, True, True, False, True]


def test_no_rows_make_no_segments() -> None:
    empty = Segments(starts_of(np.array([], dtype=np.int64)))
    assert empty.count == 0
    assert empty.first.tolist() == []
    assert empty.cumulative_sum(np.array([])).tolist() == []


def test_each_row_knows_its_segment_and_each_segment_its_first_and_last_rows() -> None:
    s = _segments(2, 1, 3)
    assert s.count == 3
    assert s.of.tolist() == [0, 0, 1, 2, 2, 2]
    assert s.first.tolist() == [0, 2, 3]
    assert s.last.tolist() == [1, 2, 5]
    assert s.sizes.tolist() == [2, 1, 3]


def test_where_segments_begin_is_found_once_and_kept() -> None:
    s = _segments(2, 3)
    assert s.first is s.first
    assert s.of is s.of


def test_position_counts_rows_from_the_segments_first() -> None:
    assert _segments(2, 1, 3).position().tolist() == [0, 1, 0, 0, 1, 2]


def test_first_value_gives_each_row_its_segments_first_value() -> None:
    values = np.array([10.0, 11.0, 20.0, 30.0, 31.0])
    assert _segments(2, 1, 2).first_value(values).tolist() == [10, 10, 20, 30, 30]


def test_previous_is_the_row_before_in_the_segment_and_missing_on_its_first_row() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    got = _segments(2, 3).previous(values)
    np.testing.assert_array_equal(got, [np.nan, 1.0, np.nan, 3.0, 4.0])


def test_running_sum_includes_the_row_and_restarts_at_each_segment() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert _segments(2, 1, 3).cumulative_sum(values).tolist() == [1, 3, 3, 4, 9, 15]


def test_a_segments_running_sum_does_not_depend_on_a_huge_valued_segment_before_it() -> None:
    # Subtracting a running total over all rows would leave 1e20 + 0.1 − 1e20 = 0 here.
    values = np.array([1e20, -1e20, 1e20, 0.1, 0.2, 0.3])
    got = _segments(3, 3).cumulative_sum(values)
    assert got[:3].tolist() == [1e20, 0.0, 1e20]
    assert got[3:].tolist() == np.cumsum([0.1, 0.2, 0.3]).tolist()


def test_a_missing_value_leaves_its_segments_later_sums_missing_but_not_the_next_segments() -> None:
    values = np.array([1.0, np.nan, 2.0, 3.0, 4.0])
    got = _segments(3, 2).cumulative_sum(values)
    np.testing.assert_array_equal(got, [1.0, np.nan, np.nan, 3.0, 7.0])


def test_a_segments_running_sum_is_that_of_the_segment_alone_in_any_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Segments of very different lengths and magnitudes, over several blocks of the matrix.
    monkeypatch.setattr(series, "BLOCK_CELLS", 40)
    rng = np.random.default_rng(1)
    sizes = rng.integers(1, 30, 60)
    values = rng.standard_normal(int(sizes.sum())) * 10.0 ** rng.integers(-8, 12, int(sizes.sum()))
    got = _segments(*sizes).cumulative_sum(values)
    ends = np.cumsum(sizes)
    for start, stop in zip(ends - sizes, ends, strict=True):
        np.testing.assert_array_equal(got[start:stop], np.cumsum(values[start:stop]))


def test_latest_where_is_the_latest_flagged_row_so_far_in_the_segment_else_minus_one() -> None:
    flags = np.array([False, True, False, True, False, False, True])
    got = _segments(3, 2, 2).latest_where(flags)
    assert got.tolist() == [-1, 1, 1, 3, 3, -1, 6]


def test_any_so_far_holds_from_the_first_flagged_row_to_the_segments_end() -> None:
    flags = np.array([False, True, False, False, False])
    assert _segments(3, 2).any_so_far(flags).tolist() == [False, True, True, False, False]


def test_blocks_place_every_row_of_the_chosen_series_once_within_the_cell_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(series, "BLOCK_CELLS", 5)
    # Series 0 has sessions 1–3, series 1 is not chosen, series 2 has sessions 1 and 2.
    of = np.array([0, 0, 0, 1, 2, 2])
    session = np.array([1, 2, 3, 1, 1, 2])
    values = np.array([1.0, 2.0, 3.0, 99.0, 4.0, 5.0])
    found = list(blocks(of, session, np.array([0, 2]), np.array([3, 2]), 3))
    assert [b.series.tolist() for b in found] == [[2], [0]]  # shortest first, one a block
    assert sorted(r for b in found for r in b.rows.tolist()) == [0, 1, 2, 4, 5]
    assert all(len(b.series) * b.width <= 5 for b in found)
    assert found[0].matrix(values).tolist() == [[4.0, 5.0]]
    assert found[1].matrix(values).tolist() == [[1.0, 2.0, 3.0]]
