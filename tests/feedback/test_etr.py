"""Expected treatment response: the fit, its file and its checks (`ally fit` in tests/cli)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ally.feedback.etr import (
    EtrModel,
    EtrModelError,
    TooLittleDataError,
    collapse,
    cross_validated_band,
    fit_etr,
    load_etr,
    predict_band,
    training_data,
    training_rows,
)
from ally.measures.schema import Direction

# The generating curve: quantile q of the score = a + b·x + (c + d·x)·t + (s0 + s1·t)·z_q, with
# x the intake, t = ln(session) and z_q the normal quantile. Linear in (x, t, x·t) for every q.
A, B, C, D = 1.0, 0.9, 0.5, -0.25
S0, S1 = 2.0, 1.0
Z90 = 1.2815515655446004


def true_quantile(x: float, session: int, z: float) -> float:
    t = math.log(session)
    return A + B * x + (C + D * x) * t + (S0 + S1 * t) * z


def episodes(n: int, seed: int = 1, s1: float = S1, measure: str = "phq9") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for e in range(n):
        x = float(rng.uniform(8, 24))
        rows.append((f"c{e}", 1, measure, x))
        for s in range(2, int(rng.integers(3, 13)) + 1):
            t = math.log(s)
            mu = A + B * x + (C + D * x) * t
            rows.append((f"c{e}", s, measure, mu + (S0 + s1 * t) * rng.standard_normal()))
    return pd.DataFrame(rows, columns=["client", "session", "measure", "score"])


def fit(data: pd.DataFrame, **kwargs: Any) -> EtrModel:
    return fit_etr(
        data,
        measure_id="phq9",
        measure_version="1.0",
        direction=Direction.LOWER_IS_BETTER,
        fitted="2026-01-01",
        **kwargs,
    )


@pytest.fixture(scope="module")
def model() -> EtrModel:
    return fit(episodes(600))


@pytest.mark.parametrize("x", [10.0, 16.0, 22.0])
@pytest.mark.parametrize("session", [2, 5, 10])
def test_fit_recovers_the_generating_curve_and_band(
    model: EtrModel, x: float, session: int
) -> None:
    expected, low, high = predict_band(model, x, session)
    assert expected == pytest.approx(true_quantile(x, session, 0), abs=0.6)
    assert low == pytest.approx(true_quantile(x, session, -Z90), abs=0.8)
    assert high == pytest.approx(true_quantile(x, session, Z90), abs=0.8)


def test_the_band_never_crosses_inside_the_training_range(model: EtrModel) -> None:
    r = model.range
    x, s = np.meshgrid(np.linspace(r.intake_min, r.intake_max, 9), np.arange(2, r.max_session + 1))
    expected, low, high = predict_band(model, x, s)
    assert np.all(low <= expected)
    assert np.all(expected <= high)
    assert model.band_method == "quantile regression"


def test_crossing_quantile_fits_fall_back_to_a_location_shift() -> None:
    # The spread shrinks to zero at session e^2 ≈ 7 and grows again "upside down" after it, so
    # the true .1 and .9 curves cross inside the training range.
    data = episodes(400, seed=2, s1=-1.0)
    crossed = fit(data)
    assert crossed.band_method == "location shift"
    r = crossed.range
    x, s = np.meshgrid(np.linspace(r.intake_min, r.intake_max, 5), np.arange(2, r.max_session + 1))
    expected, low, high = predict_band(crossed, x, s)
    assert np.all(low <= expected)
    assert np.all(expected <= high)


@pytest.mark.parametrize(("seed", "s1"), [(3, S1), (2, -1.0)])
def test_each_fold_of_the_cross_validation_is_the_course_fitted_without_its_episodes(
    seed: int, s1: float
) -> None:
    # One collapse of every fold serves all the fits; each must be the fit of the other folds'
    # episodes alone, crossing curves (s1 = -1) included, whether the folds are fitted one after
    # another or at once.
    data = episodes(300, seed=seed, s1=s1)
    train = training_data(data, "phq9")
    arguments: dict[str, Any] = {
        "measure_id": "phq9",
        "measure_version": "1.0",
        "direction": Direction.LOWER_IS_BETTER,
        "fitted": "2026-01-01",
    }
    band = cross_validated_band(collapse(train, 3), 3, **arguments)
    assert band is not None
    filters = list(warnings.filters)
    at_once = cross_validated_band(collapse(train, 3), 3, threads=3, **arguments)
    assert warnings.filters == filters  # the fits' own silencing does not outlive them
    assert at_once is not None
    for alone, together in zip(band, at_once, strict=True):
        assert np.array_equal(alone, together, equal_nan=True)
    fold = pd.factorize(train.rows["episode"])[0] % 3
    for k in range(3):
        held = fold == k
        others = data[~data["client"].isin(train.rows["episode"][held])]
        model = fit(others)
        out = train.rows[held]
        for fitted, found in zip(
            predict_band(model, out["intake"], out["session"]), band, strict=True
        ):
            assert np.array_equal(fitted, found[held])
    assert fit(data) == fit_etr(collapse(train, 3), **arguments)


def test_curves_give_the_same_on_floats_and_numpy_arrays(model: EtrModel) -> None:
    x = np.array([9.0, 15.5, 23.0])
    t = np.log(np.array([2.0, 4.0, 9.0]))
    for curve in (model.expected, model.low, model.high):
        arrays = curve(x, t)
        floats = [curve(float(a), float(b)) for a, b in zip(x, t, strict=True)]
        assert arrays == pytest.approx(floats)


def test_sessions_beyond_the_range_hold_the_last_fitted_values(model: EtrModel) -> None:
    last = model.range.max_session
    assert predict_band(model, 15, last + 20) == pytest.approx(predict_band(model, 15, last))
    assert model.max_log_session == pytest.approx(math.log(last))


def test_intakes_beyond_the_range_hold_the_edge_values(model: EtrModel) -> None:
    top = model.range.intake_max
    assert predict_band(model, top + 10, 4) == pytest.approx(predict_band(model, top, 4))


def test_a_saved_and_loaded_model_predicts_the_same(model: EtrModel, tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text(model.to_json(), encoding="utf-8")
    loaded = load_etr(path, "phq9", "1.0")
    assert loaded == model
    assert predict_band(loaded, 17, 6) == pytest.approx(predict_band(model, 17, 6))


def test_the_model_file_records_measure_version_quantiles_range_and_training(
    model: EtrModel,
) -> None:
    data = json.loads(model.to_json())
    assert data["format"] == "ally-etr-model"
    assert data["format_version"] == 1
    assert data["ally_version"]
    assert data["measure"] == {"id": "phq9", "version": "1.0", "direction": "lower_is_better"}
    assert data["quantiles"] == [0.1, 0.5, 0.9]
    assert set(data["coefficients"][0]) == {
        "quantile",
        "intercept",
        "intake",
        "log_session",
        "intake_log_session",
    }
    assert set(data["training_range"]) == {"intake_min", "intake_max", "min_session", "max_session"}
    assert data["training"]["episodes"] == 600
    assert data["training"]["fitted"] == "2026-01-01"


def test_a_model_of_another_measure_is_rejected(model: EtrModel, tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text(model.to_json(), encoding="utf-8")
    with pytest.raises(EtrModelError, match="this model is for phq9, not gad7"):
        load_etr(path, "gad7", "1.0")


def test_a_model_of_another_measure_version_is_rejected(model: EtrModel, tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text(model.to_json(), encoding="utf-8")
    with pytest.raises(EtrModelError, match=r"phq9 version 1\.0, but the scores are version 2\.0"):
        load_etr(path, "phq9", "2.0")


def test_files_that_are_not_models_of_this_format_are_rejected(
    model: EtrModel, tmp_path: Path
) -> None:
    path = tmp_path / "model.json"
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(EtrModelError, match="not an Ally expected-response model"):
        load_etr(path, "phq9", "1.0")
    newer = json.loads(model.to_json()) | {"format_version": 99}
    path.write_text(json.dumps(newer), encoding="utf-8")
    with pytest.raises(EtrModelError, match="format version 99"):
        load_etr(path, "phq9", "1.0")
    with pytest.raises(EtrModelError, match="cannot be read"):
        load_etr(tmp_path / "missing.json", "phq9", "1.0")


def test_too_little_data_says_how_much_is_needed_and_found() -> None:
    with pytest.raises(TooLittleDataError, match=r"at least 50 episodes .* the data have 20"):
        fit(episodes(20))


def test_quantiles_must_include_the_median_with_one_on_each_side() -> None:
    with pytest.raises(ValueError, match=r"include 0\.5"):
        fit(episodes(60), quantiles=(0.1, 0.9))


def test_only_completed_client_rated_episodes_with_an_intake_are_used() -> None:
    data = pd.DataFrame(
        {
            "client": ["a", "a", "b", "b", "c", "c", "d", "e", "e"],
            "session": [1, 2, 1, 2, 2, 3, 1, 1, 2],
            "measure": ["phq9"] * 9,
            "rater": ["client"] * 7 + ["client", "clinician"],
            "score": [20, 15, 18, 17, 12, 11, 14, 10, 9],
            "ending": [None, "planned", None, "ongoing", "dropout", None, "planned", None, None],
        }
    )
    train = training_data(data, "phq9")
    assert train.completed_only
    assert set(train.rows["episode"]) == {"a"}
    assert train.not_completed == 2  # b is ongoing; e has no ending
    assert train.skipped_no_intake == 1  # c has no session 1
    assert train.skipped_no_followup == 1  # d has only session 1
    assert train.rows["intake"].tolist() == [20.0]


def test_episode_numbers_select_the_same_rows_as_episode_text() -> None:
    # The engine keys its rows by episode number; a sessions table by client and episode text.
    client = ["a", "a", "b", "b", "c", "c", "d", "e", "e"]
    session = np.array([1, 2, 1, 2, 2, 3, 1, 1, 2])
    score = np.array([20, 15, 18, 17, 12, 11, 14, 10, 9], dtype=float)
    ending = np.array(
        [None, "planned", None, "ongoing", "dropout", None, "planned", None, None], dtype=object
    )
    number = np.array([ord(c) - ord("a") for c in client])
    by_number = training_rows(number, session, score, ending)
    by_text = training_data(
        pd.DataFrame(
            {"client": client, "session": session, "measure": "phq9", "score": score}
            | {"ending": ending}
        ),
        "phq9",
    )
    assert by_number.rows.drop(columns="episode").equals(by_text.rows.drop(columns="episode"))
    assert by_number.rows["episode"].tolist() == [0]
    assert (by_number.not_completed, by_number.skipped_no_intake) == (2, 1)
    assert by_number.skipped_no_followup == by_text.skipped_no_followup == 1


def test_episodes_default_to_one_per_client_and_are_kept_apart_when_given() -> None:
    data = pd.DataFrame(
        {
            "client": ["a"] * 4,
            "episode": ["1", "1", "2", "2"],
            "session": [1, 2, 1, 2],
            "measure": ["phq9"] * 4,
            "score": [20, 15, 10, 12],
        }
    )
    train = training_data(data, "phq9")
    assert train.rows["intake"].tolist() == [20.0, 10.0]


def test_rows_with_infinite_sessions_or_scores_are_left_out() -> None:
    # Episode 5's intake is infinite, so it has none; episode 3 keeps its finite rows.
    inf = float("inf")
    train = training_rows(
        [5, 5, 3, 3, 3, 3],
        [1, 2, 1, 2, inf, 3],
        [inf, 9.0, 8.0, 7.0, 6.0, inf],
    )
    assert train.skipped_no_intake == 1
    assert train.rows["episode"].tolist() == [3]
    assert train.rows["score"].tolist() == [7.0]
    assert train.sessions_per_episode.to_dict() == {3: 2}
