"""The practice model applied to columns: rules that hold for one episode and for many."""

from __future__ import annotations

import numpy as np
import pytest

from ally.feedback.fit import FitOptions, fit_practice
from ally.feedback.practice import PracticeModel, params_of
from ally.feedback.results import ENDINGS, Administrations, results
from ally.measures import load_library


@pytest.fixture(scope="module")
def published() -> PracticeModel:
    """The model of a practice without history: every measure's published values."""
    library = load_library()
    params = {m.id: params_of(m) for m in library}
    empty = Administrations(
        episode=np.zeros(0, np.int64),
        measure=np.zeros(0, np.int64),
        measure_ids=(),
        rater=np.zeros(0, np.int64),
        session=np.zeros(0, np.int64),
        day=np.zeros(0),
        score=np.zeros(0),
        subscales={},
        ending=np.zeros(0, np.int64),
    )
    return fit_practice(empty, params, FitOptions(fitted_at="2026-01-01", dropout=False))


def phq9_episode(scores: list[float]) -> Administrations:
    n = len(scores)
    return Administrations(
        episode=np.zeros(n, np.int64),
        measure=np.zeros(n, np.int64),
        measure_ids=("phq9",),
        rater=np.zeros(n, np.int64),
        session=np.arange(1, n + 1, dtype=np.int64),
        day=np.arange(n, dtype=np.float64) * 7,
        score=np.asarray(scores, dtype=np.float64),
        subscales={},
        ending=np.full(n, ENDINGS.index("ongoing"), np.int64),
    )


def test_no_administrations_give_empty_results(published: PracticeModel) -> None:
    """An episode whose first form is not answered yet has no rows: no results, no error."""
    found = results(published, phq9_episode([]))
    assert len(found.sessions.band) == 0
    assert len(found.series.first_row) == 0


@pytest.mark.parametrize("scores", [[2, 1, 0, 0], [27, 27, 26, 27], [14, 12, 10, 9]])
def test_the_expected_course_and_its_band_stay_within_the_measures_range(
    published: PracticeModel, scores: list[float]
) -> None:
    found = results(published, phq9_episode(scores)).sessions
    for column in (found.expected, found.expected_low, found.expected_high):
        assert np.all((column >= 0) & (column <= 27)), column


def test_a_fall_of_the_published_reliable_change_is_reliable_and_one_point_less_is_not(
    published: PracticeModel,
) -> None:
    # PHQ-9: 6 points or more (NHS Talking Therapies manual).
    found = results(published, phq9_episode([15, 10, 9])).sessions
    assert list(found.reliable_change) == ["unchanged", "unchanged", "improved"]


def alliance_episode(totals: list[float], measure: str = "ally-alliance") -> Administrations:
    n = len(totals)
    return Administrations(
        episode=np.zeros(n, np.int64),
        measure=np.zeros(n, np.int64),
        measure_ids=(measure,),
        rater=np.zeros(n, np.int64),
        session=np.arange(1, n + 1, dtype=np.int64),
        day=np.arange(n, dtype=np.float64) * 7,
        score=np.asarray(totals, dtype=np.float64),
        subscales={},
        ending=np.full(n, ENDINGS.index("ongoing"), np.int64),
    )


def test_low_alliance_is_the_srs_published_cut_off(published: PracticeModel) -> None:
    # SRS: 36 or below signals a possible alliance problem (SPECS 2).
    found = results(published, alliance_episode([38, 36.5, 36, 39], "srs")).sessions
    low = ["low_alliance" in (flags or "") for flags in found.risk_flags]
    assert low == [False, False, True, False]


def test_a_measure_without_a_published_cut_off_gets_the_practices_own_low_ratings() -> None:
    library = load_library()
    params = {"ally-alliance": params_of(library.get("ally-alliance"))}
    # 40 clients rate 15 to 28 in turn: the lowest tenth are 16 or below.
    ratings = [15 + k % 14 for k in range(40)]
    history = Administrations(
        episode=np.arange(40, dtype=np.int64),
        measure=np.zeros(40, np.int64),
        measure_ids=("ally-alliance",),
        rater=np.zeros(40, np.int64),
        session=np.ones(40, np.int64),
        day=np.zeros(40),
        score=np.asarray(ratings, dtype=np.float64),
        subscales={},
        ending=np.full(40, ENDINGS.index("ongoing"), np.int64),
    )
    model = fit_practice(history, params, FitOptions(fitted_at="2026-01-01", dropout=False))
    alliance = model.measures["ally-alliance"]
    assert alliance.low_alliance == 16
    assert "lowest 10% of 40 client ratings" in alliance.low_alliance_source
    # A rating of 24 of 28 is not low; 16 is.
    found = results(model, alliance_episode([24, 16])).sessions
    assert ["low_alliance" in (flags or "") for flags in found.risk_flags] == [False, True]


def test_too_few_ratings_give_no_low_alliance_flag(published: PracticeModel) -> None:
    assert published.measures["ally-alliance"].low_alliance is None
    found = results(published, alliance_episode([24, 10])).sessions
    assert not any("low_alliance" in (flags or "") for flags in found.risk_flags)
