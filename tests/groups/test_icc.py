"""Intraclass correlations reproduce Shrout & Fleiss (1979)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ally.groups.icc import icc


def test_the_six_forms_reproduce_shrout_and_fleiss_table_4(shared_data: Path) -> None:
    # shared/data/README.md: the 6 targets x 4 judges matrix of Shrout & Fleiss (1979).
    ratings = pd.read_csv(shared_data / "shrout_fleiss_1979.csv").to_numpy()
    result = icc(ratings)
    assert round(result.icc1, 7) == 0.1657418
    assert round(result.icc2, 7) == 0.2897638
    assert round(result.icc3, 7) == 0.7148407
    assert round(result.icc1k, 7) == 0.4427971
    assert round(result.icc2k, 7) == 0.6200505
    assert round(result.icc3k, 7) == 0.9093155


def test_judges_in_perfect_agreement_give_one() -> None:
    ratings = np.array([[1, 1, 1], [4, 4, 4], [2, 2, 2]])
    result = icc(ratings)
    assert result.icc1 == pytest.approx(1.0)
    assert result.icc2 == pytest.approx(1.0)


@given(
    st.lists(st.lists(st.integers(0, 9), min_size=3, max_size=3), min_size=3, max_size=8).filter(
        lambda rows: len({sum(r) for r in rows}) > 1
    ),
    st.integers(-5, 5),
)
def test_consistency_ignores_a_constant_added_by_one_judge(
    rows: list[list[int]], shift: int
) -> None:
    ratings = np.array(rows, dtype=float)
    shifted = ratings.copy()
    shifted[:, 0] += shift
    if np.isclose(ratings.var(axis=1).sum(), 0):
        return
    assert icc(shifted).icc3 == pytest.approx(icc(ratings).icc3, abs=1e-9)


def test_missing_ratings_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="missing values"):
        icc([[1, 2], [np.nan, 3]])
