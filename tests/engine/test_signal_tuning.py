"""The signal rule chosen on a practice's training episodes, and the practice's own backtest:
both fitted by `ally fit`'s function on a simulated practice and checked against the signals
`ally analyze --model` then gives."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ally.engine.analyze import analyze, fit
from ally.engine.backtest import signal_figures
from ally.engine.options import Options
from ally.feedback.etr import RationalEtr
from ally.feedback.practice import PracticeModel
from ally.feedback.signals import HANNAN_SESSION, MAX_OTHERS_FLAGGED, thresholds_of
from ally.simulate import SimulationConfig, simulate


@pytest.fixture(scope="module")
def practice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated practice large enough that its measures have ten or more deteriorators."""
    out = tmp_path_factory.mktemp("practice")
    simulate(SimulationConfig(episodes=900, seed=7), out, "csv")
    return out / "sessions.csv"


@pytest.fixture(scope="module")
def model(practice: Path, tmp_path_factory: pytest.TempPathFactory) -> PracticeModel:
    out = tmp_path_factory.mktemp("fit")
    fitted, _ = fit(
        Options(input=practice, out=out, progress=False, feedback=False, threads=1),
        fitted_at="2026-12-06T12:00:00+00:00",
    )
    return fitted


def figures_at(model: PracticeModel, data: Path, folder: Path, measure: str) -> dict[str, Any]:
    """Flags by session 3 of `ally analyze --model` on `data`, as the backtest counts them."""
    folder.mkdir()
    (folder / "practice.json").write_text(model.to_json(), encoding="utf-8")
    analyze(
        Options(
            input=data, out=folder, format="parquet", model=folder / "practice.json",
            progress=False, threads=1,
        )
    )  # fmt: skip
    sessions = pd.read_parquet(folder / "sessions.parquet")
    episodes = pd.read_parquet(folder / "episodes.parquet")
    found = signal_figures(sessions, episodes, measure, None)
    assert found is not None
    rows = found["accuracy"]["yellow_or_red"]["deterioration"]
    return next(r for r in rows if r["by_session"] == HANNAN_SESSION)


def test_each_outcome_measure_s_rule_is_chosen_on_its_training_episodes(
    model: PracticeModel,
) -> None:
    for measure_id in ("phq9", "gad7"):
        outcome = model.measures[measure_id].outcome
        assert outcome is not None, measure_id
        assert outcome.tuning is not None, measure_id
        tuning = outcome.tuning
        chosen = tuning.chosen
        # Four candidates: the fitted and the rational course, white first or the band first.
        assert {(c.course, c.functional_first) for c in tuning.candidates} == {
            ("fitted", True), ("fitted", False), ("rational", True), ("rational", False),
        }  # fmt: skip
        within = [c for c in tuning.candidates if c.within_bound]
        assert chosen.others_flagged <= MAX_OTHERS_FLAGGED
        assert chosen.sensitivity == max(c.sensitivity for c in within)
        # The model applies what was chosen.
        assert outcome.thresholds.yellow_scale == chosen.yellow_scale
        assert outcome.thresholds.functional_first == chosen.functional_first
        assert isinstance(outcome.expected, RationalEtr) == (chosen.course == "rational")


def test_the_rational_candidates_figures_are_the_signals_analyze_then_gives(
    model: PracticeModel, practice: Path, tmp_path: Path
) -> None:
    # One rule: the tuning's count and the signals of `results` (via `ally analyze --model`)
    # agree exactly on the same episodes, for a candidate not cross-validated.
    outcome = model.measures["phq9"].outcome
    assert outcome is not None
    assert outcome.tuning is not None
    for i, candidate in enumerate(c for c in outcome.tuning.candidates if c.course == "rational"):
        rule = replace(
            outcome,
            expected=RationalEtr(reliable_change=outcome.reliable_change, sign=-1),
            thresholds=thresholds_of(candidate, outcome.thresholds),
        )
        variant = replace(model, measures={**model.measures, "phq9": replace(
            model.measures["phq9"], outcome=rule
        )})  # fmt: skip
        row = figures_at(variant, practice, tmp_path / str(i), "phq9")
        assert row["true_positives"] + row["false_negatives"] == candidate.deteriorators
        assert row["sensitivity"] == pytest.approx(candidate.sensitivity)
        assert row["others_flagged"] == pytest.approx(candidate.others_flagged)


def test_the_practice_backtests_its_signals_on_its_later_episodes(model: PracticeModel) -> None:
    b = model.signal_backtest
    assert b is not None
    assert b.split == 0.5
    assert b.by_session == HANNAN_SESSION
    assert abs(b.train_episodes - b.test_episodes) <= 1
    assert b.train_period[0] is not None
    assert b.test_period[1] is not None
    assert b.train_period[0] <= b.test_period[0]
    phq9 = next(m for m in b.measures if m.measure == "phq9")
    assert phq9.episodes <= b.test_episodes
    if phq9.deteriorators >= b.min_deteriorators:
        assert phq9.sensitivity is not None
        assert 0 <= phq9.sensitivity <= 1
        assert phq9.others_flagged is not None
        assert 0 <= phq9.others_flagged <= 1
    else:
        assert phq9.sensitivity is None
        assert phq9.others_flagged is None


def test_the_model_file_keeps_the_choice_and_the_backtest(model: PracticeModel) -> None:
    text = model.to_json()
    data = json.loads(text)
    assert data["format_version"] == 2
    assert data["measures"]["phq9"]["outcome"]["tuning"]["chosen"]["yellow_scale"] >= 0
    assert data["signal_backtest"]["split"] == 0.5
    assert PracticeModel.from_json(text).to_json() == text


def test_a_version_1_model_file_still_loads_with_its_stored_thresholds(
    model: PracticeModel,
) -> None:
    data = json.loads(model.to_json())
    data["format_version"] = 1
    del data["signal_backtest"]
    for m in data["measures"].values():
        if m["outcome"] is not None:
            del m["outcome"]["tuning"]
            del m["outcome"]["thresholds"]["functional_first"]
            m["outcome"]["thresholds"]["yellow_scale"] = 0.5
    old = PracticeModel.from_dict(data)
    assert old.signal_backtest is None
    phq9 = old.measures["phq9"].outcome
    assert phq9 is not None
    assert phq9.tuning is None
    # As version 1 read them: white first, yellow at half the band.
    assert phq9.thresholds.functional_first is True
    assert phq9.thresholds.yellow_scale == 0.5


def test_a_small_practice_is_told_it_has_too_few_episodes(practice: Path, tmp_path: Path) -> None:
    rows = pd.read_csv(practice, dtype=str, keep_default_na=False)
    keep = sorted(rows["episode"].unique())[:40]
    small = tmp_path / "small.csv"
    rows[rows["episode"].isin(keep)].to_csv(small, index=False)
    fitted, _ = fit(Options(input=small, out=tmp_path, progress=False, feedback=False))
    b = fitted.signal_backtest
    assert b is not None
    assert not b.measures
    assert "too few to backtest the signals" in b.note
    # And too few deteriorators to choose a rule: the default stands.
    phq9 = fitted.measures["phq9"].outcome
    assert phq9 is not None
    assert phq9.tuning is None
    assert any("keep the default thresholds" in n for n in fitted.measures["phq9"].notes)
