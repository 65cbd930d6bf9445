"""`ally backtest`: a time-respecting split, the report's keys, figures checked by hand."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from ally.cli.backtest import backtest
from ally.engine.backtest import (
    _scores,
    openfit_scaled,
    remaining_path_risk,
    signal_figures,
    split_by_time,
)
from ally.feedback.alliance import RuleKind
from ally.simulate import SimulationConfig, simulate

REPORT_KEYS = {
    "format",
    "format_version",
    "ally_version",
    "created",
    "data",
    "models",
    "signals",
    "dropout",
    "goals",
    "notes",
}


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(backtest, [*map(str, args)])


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def practice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated practice with its ground truth."""
    out = tmp_path_factory.mktemp("practice")
    simulate(SimulationConfig(episodes=360, seed=5), out, "csv")
    return out


@pytest.fixture(scope="module")
def with_truth(practice: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("backtest")
    result = run(practice / "sessions.csv", "--out", out, "--folds", "2", "--threads", "1")
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads((out / "backtest.json").read_text())
    return {"out": out, "report": report, "output": result.output}


@pytest.fixture(scope="module")
def without_truth(practice: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The first 100 episodes' rows alone, in a folder without truth: too little to fit models."""
    folder = tmp_path_factory.mktemp("small")
    rows = pd.read_csv(practice / "sessions.csv", dtype=str, keep_default_na=False)
    keep = sorted(rows["episode"].unique())[:100]
    rows[rows["episode"].isin(keep)].to_csv(folder / "sessions.csv", index=False)
    out = folder / "out"
    result = run(folder / "sessions.csv", "--out", out, "--threads", "1")
    assert result.exit_code == 0, result.output
    return {"out": out, "report": json.loads((out / "backtest.json").read_text())}


# --- The split -----------------------------------------------------------------------------


def test_no_training_episode_starts_after_a_test_episode(tmp_path: Path) -> None:
    # Lines are out of date order, and episode e3 has an earlier row that is not its first line.
    rows = [
        ["c1", "e1", 1, "2024-03-01", "phq9", 10, "planned"],
        ["c2", "e2", 1, "2024-01-15", "phq9", 12, "planned"],
        ["c3", "e3", 2, "2024-02-08", "phq9", 9, "dropout"],
        ["c3", "e3", 1, "2024-02-01", "phq9", 11, "dropout"],
        ["c4", "e4", 1, "2024-01-01", "phq9", 14, "ongoing"],
        ["c1", "e1", 2, "2024-03-08", "phq9", 8, "planned"],
    ]
    data = write_csv(
        tmp_path / "in.csv",
        ["client", "episode", "session", "date", "measure", "score", "ending"],
        rows,
    )
    split = split_by_time(data, tmp_path / "out", 0.5)
    train = pd.read_parquet(split.train)
    test = pd.read_parquet(split.test)
    assert set(train["episode"]) == {"e4", "e2"}
    assert set(test["episode"]) == {"e3", "e1"}
    first = lambda t: pd.to_datetime(t["date"]).groupby(t["episode"]).min()  # noqa: E731
    assert first(train).max() <= first(test).min()
    assert len(train) + len(test) == len(rows)
    assert split.ordered_by == "first date"


def test_without_dates_episodes_are_ordered_by_their_first_line(tmp_path: Path) -> None:
    rows = [
        ["c2", 1, "phq9", 12, "planned"],
        ["c1", 1, "phq9", 10, "planned"],
        ["c2", 2, "phq9", 11, "planned"],
        ["c3", 1, "phq9", 9, "dropout"],
    ]
    data = write_csv(tmp_path / "in.csv", ["client", "session", "measure", "score", "ending"], rows)
    split = split_by_time(data, tmp_path / "out", 0.3)
    assert set(pd.read_parquet(split.train)["client"]) == {"c2"}
    assert set(pd.read_parquet(split.test)["client"]) == {"c1", "c3"}
    assert split.ordered_by == "line"


def test_the_simulated_split_respects_time(with_truth: dict[str, Any]) -> None:
    periods = with_truth["report"]["data"]["periods"]
    assert periods["train"]["last_start"] <= periods["test"]["first_start"]
    episodes = with_truth["report"]["data"]["episodes"]
    assert episodes == {"train": 180, "test": 180}


# --- The report ----------------------------------------------------------------------------


def test_report_files_exist_with_the_documented_keys(with_truth: dict[str, Any]) -> None:
    out, report = with_truth["out"], with_truth["report"]
    for name in ("backtest.md", "backtest.json", "train.parquet", "test.parquet"):
        assert (out / name).exists()
    assert (out / "models" / "practice.json").exists()
    for folder in ("test_analysis", "test_rational"):
        assert (out / folder / "sessions.parquet").exists()
    assert REPORT_KEYS | {"ruptures"} == set(report)
    assert report["format"] == "ally-backtest"
    phq9 = report["signals"]["phq9"]
    # The practice model's own (tuned) signals, and the untuned rational rule beside them.
    assert set(phq9) == {"model", "rational"}
    figures = phq9["model"]
    assert set(figures["accuracy"]) == {"red", "yellow_or_red"}
    assert set(figures["accuracy"]["red"]) == {
        "deterioration",
        "non_recovery",
        "true_deterioration",
        "true_non_recovery",
    }
    sessions = [r["by_session"] for r in figures["accuracy"]["red"]["deterioration"]]
    assert sessions == [*range(1, 11), "end"]
    scores = report["dropout"]["scores"]
    assert set(scores) == {"model", "logistic_baseline", "true_hazard", "true_remaining_path"}
    assert len(scores["model"]["calibration"]) == 10
    assert set(report["ruptures"]["ally-alliance"]["detectors"]) == {"strauss", "openfit_baseline"}
    goals = {g["goal"].split(" ")[0] for g in report["goals"]}
    assert goals == {"signals", "ruptures", "dropout"}
    text = (out / "backtest.md").read_text()
    for heading in ("## Goals", "## Signals", "## Dropout", "## Ruptures"):
        assert heading in text
    assert "Trained on 180 episodes, tested on 180" in with_truth["output"]


def test_a_run_without_truth_omits_the_truth_sections(without_truth: dict[str, Any]) -> None:
    report = without_truth["report"]
    assert report["data"]["truth"] is None
    assert "ruptures" not in report
    for entry in report["signals"].values():
        for figures in entry.values():
            assert not {"true_deterioration", "true_non_recovery"} & set(figures["poor_outcomes"])
    assert not {"true_hazard", "true_remaining_path"} & set(report["dropout"]["scores"])
    assert all("true" not in g["goal"] for g in report["goals"])
    assert "## Ruptures" not in (without_truth["out"] / "backtest.md").read_text()


def test_too_little_training_data_is_reported_not_raised(without_truth: dict[str, Any]) -> None:
    report = without_truth["report"]
    assert report["models"]["dropout"]["fitted"] is False
    assert "needs at least 100 completed episodes" in report["models"]["dropout"]["said"]
    assert any("indicators only" in n for n in report["notes"])
    # Rational signals and the indicators stand in.
    assert "indicators_met" in report["dropout"]["scores"]
    assert all(set(entry) == {"model", "rational"} for entry in report["signals"].values())
    assert "not fitted" in (without_truth["out"] / "backtest.md").read_text()


# --- Figures by hand -----------------------------------------------------------------------


def test_signal_accuracy_matches_a_hand_count() -> None:
    # A: deteriorated, red at 2. B: deteriorated, never flagged. C: unchanged, yellow at 3.
    # D: recovered, never flagged. E: one session only, left out.
    signals = {
        "A": ["green", "red", "red"],
        "B": ["green", "green", "green"],
        "C": ["green", "green", "yellow"],
        "D": ["green", "white", "white"],
        "E": ["green"],
    }
    sessions = pd.DataFrame(
        [
            {"client": k, "episode": k, "session": i + 1, "measure": "phq9", "rater": "client"}
            | {"signal": s}
            for k, series in signals.items()
            for i, s in enumerate(series)
        ]
    )
    episodes = pd.DataFrame(
        {
            "client": list("ABCDE"),
            "episode": list("ABCDE"),
            "measure": "phq9",
            "rater": "client",
            "ending": ["planned", "dropout", "planned", "planned", "dropout"],
            "sessions": [3, 3, 3, 3, 1],
            "reliable_change": ["deteriorated", "deteriorated", "unchanged", "improved", None],
            "category": ["deteriorated", "deteriorated", "unchanged", "recovered", None],
        }
    )
    figures = signal_figures(sessions, episodes, "phq9", None)
    assert figures is not None
    assert figures["episodes"] == 4
    by3 = lambda level, outcome: figures["accuracy"][level][outcome][2]  # noqa: E731
    any3 = by3("yellow_or_red", "deterioration")
    assert any3["by_session"] == 3
    assert (any3["true_positives"], any3["false_positives"]) == (1, 1)
    assert (any3["false_negatives"], any3["true_negatives"]) == (1, 1)
    assert any3["sensitivity"] == 0.5
    assert any3["others_flagged"] == 0.5
    assert any3["positive_predictive_value"] == 0.5
    red3 = by3("red", "deterioration")
    assert (red3["sensitivity"], red3["others_flagged"], red3["positive_predictive_value"]) == (
        0.5,
        0.0,
        1.0,
    )
    # Non-recovery: A, B, C are not recovered; by session 3 A and C are flagged.
    assert by3("yellow_or_red", "non_recovery")["sensitivity"] == pytest.approx(2 / 3)
    assert figures["meets_target"]["yellow_or_red"]["deterioration"] is False
    # Sessions flagged: 3 of 13 are yellow or red (E's one session included), 2 red.
    assert figures["sessions_flagged"]["yellow_or_red"] == pytest.approx(3 / 13)
    assert figures["sessions_flagged"]["red"] == pytest.approx(2 / 13)


def test_dropout_scores_match_a_hand_count() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8])
    found = _scores(y, p)
    # Of the four dropout-versus-planned pairs, three rank the dropout higher.
    assert found["auc"] == 0.75
    assert found["brier"] == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)
    assert found["mean_predicted"] == pytest.approx(0.4125)


def test_remaining_path_risk_multiplies_the_later_hazards() -> None:
    frame = pd.DataFrame(
        {
            "client": ["a", "a", "a", "b"],
            "episode": ["a", "a", "a", "b"],
            "session": [3, 1, 2, 1],
            "dropout_hazard": [0.5, 0.1, 0.2, 0.0],
        }
    )
    risk = remaining_path_risk(frame)
    assert risk.tolist() == pytest.approx([0.5, 1 - 0.9 * 0.8 * 0.5, 1 - 0.8 * 0.5, 0.0])


def test_the_openfit_baseline_is_rescaled_to_the_measure_range() -> None:
    # SRS 0-40: below 36, or a 1-point drop; on a 0-28 measure: below 25.2, or a 0.7 drop.
    srs = openfit_scaled(0, 40)
    assert [(r.kind, r.threshold) for r in srs.rules] == [
        (RuleKind.CUTOFF, 36),
        (RuleKind.POINTS, 1),
    ]
    small = openfit_scaled(0, 28)
    assert small.rules[0].threshold == pytest.approx(25.2)
    assert small.rules[1].threshold == pytest.approx(0.7)
    assert not math.isnan(small.rules[1].threshold)


# --- Errors for people ---------------------------------------------------------------------


def test_a_missing_file_is_one_message(tmp_path: Path) -> None:
    result = run(tmp_path / "nothing.csv", "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "nothing.csv: no such file" in result.output
    assert "Traceback" not in result.output


def test_data_without_an_ending_column_is_one_message(tmp_path: Path) -> None:
    data = write_csv(
        tmp_path / "in.csv", ["client", "session", "measure", "score"], [["c1", 1, "phq9", 10]]
    )
    result = run(data, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "no `ending` column" in result.output
    assert result.output.count("Error") == 1


def test_a_truth_folder_without_truth_files_is_one_message(practice: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    shutil.copy(practice / "sessions.csv", tmp_path / "sessions.csv")
    result = run(tmp_path / "sessions.csv", "--out", tmp_path / "out", "--truth", empty)
    assert result.exit_code == 1
    assert "no truth_sessions and truth_episodes" in result.output
