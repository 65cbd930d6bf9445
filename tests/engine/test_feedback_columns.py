"""Signals and the expected course in `ally analyze`'s sessions table."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from ally.cli.main import cli


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["analyze", *map(str, args), "--no-progress"])


def scores_file(path: Path, series: dict[str, list[float]], measure: str = "phq9") -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["client", "session", "measure", "score"])
        for client, scores in series.items():
            for session, score in enumerate(scores, start=1):
                writer.writerow([client, session, measure, score])
    return path


def sessions(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "sessions.csv", dtype={"client": str})


def test_without_a_model_signals_follow_the_rational_course(tmp_path: Path) -> None:
    # PHQ-9, published reliable change 6 (NHS Talking Therapies): the rational course expects
    # 6 points of improvement by session 8 along ln(session), band ±6.
    series = {
        "worse": [14, 16, 21],  # 7 points worse than intake: reliably worse, red
        "recovers": [18, 12, 6],  # below the cut-off of 10: white
        "stalls": [20, 20, 20, 20, 20, 20, 20, 20],  # no change by session 8: yellow
        "on-track": [16, 14, 13],
    }
    path = scores_file(tmp_path / "in.csv", series)
    assert run(path, "--out", tmp_path / "out").exit_code == 0
    s = sessions(tmp_path / "out")
    last = s.groupby("client").tail(1).set_index("client")
    assert last.loc["worse", "signal"] == "red"
    assert last.loc["recovers", "signal"] == "white"
    assert last.loc["stalls", "signal"] == "yellow"
    assert last.loc["on-track", "signal"] == "green"
    stall = s[s.client == "stalls"].set_index("session")
    assert stall.loc[8, "expected"] == pytest.approx(14.0)
    assert (stall.loc[8, "expected_low"], stall.loc[8, "expected_high"]) == (8.0, 20.0)


def test_alliance_rows_have_no_outcome_signal(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(
        "client,session,measure,item1,item2,item3,item4,item5,item6,item7\n"
        "a,1,ally-alliance,4,4,4,4,4,4,4\n"
    )
    assert run(path, "--out", tmp_path / "out").exit_code == 0
    row = sessions(tmp_path / "out").iloc[0]
    assert pd.isna(row["signal"])
    assert pd.isna(row["expected"])


def practice_model(tmp_path: Path, measure_id: str) -> Path:
    """A practice model fitted by `ally fit` on 80 completed episodes of `measure_id`."""
    rng = np.random.default_rng(3)
    path = tmp_path / "history.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["client", "session", "measure", "score", "ending"])
        for e in range(80):
            intake = rng.uniform(10, 25)
            for s in range(1, 9):
                score = np.clip(intake - 2.5 * np.log(s) + rng.normal(0, 1.5), 0, 27)
                writer.writerow([f"c{e}", s, measure_id, round(float(score), 2), "planned"])
    model = tmp_path / "practice.json"
    result = CliRunner().invoke(cli, ["fit", str(path), "--out", str(model), "--no-progress"])
    assert result.exit_code == 0, result.output
    return model


def test_a_fitted_model_sets_the_expected_band(tmp_path: Path) -> None:
    model = practice_model(tmp_path, "phq9")
    path = scores_file(tmp_path / "in.csv", {"a": [20, 18, 17, 15], "b": [12, 12, 11]})
    result = run(path, "--out", tmp_path / "out", "--model", model)
    assert result.exit_code == 0, result.output
    assert "signals from the expected course fitted on 80 episodes" in result.output
    row = sessions(tmp_path / "out").query("client == 'a' and session == 4").iloc[0]
    # The generating curve: 20 - 2.5 ln 4 = 16.5.
    assert row["expected"] == pytest.approx(16.5, abs=0.6)
    assert row["expected_low"] < row["expected"] < row["expected_high"]


def test_a_model_without_a_measure_of_the_input_is_refused(tmp_path: Path) -> None:
    model = practice_model(tmp_path, "gad7")
    path = scores_file(tmp_path / "in.csv", {"a": [20, 18]})
    result = run(path, "--out", tmp_path / "out", "--model", model)
    assert result.exit_code == 1
    assert "the model has no measure 'phq9', which the input has" in result.output


def test_a_model_for_another_version_of_the_measure_is_refused(tmp_path: Path) -> None:
    model = practice_model(tmp_path, "phq9")
    data = json.loads(model.read_text())
    data["measures"]["phq9"]["version"] = "0.9"
    model.write_text(json.dumps(data))
    path = scores_file(tmp_path / "in.csv", {"a": [20, 18]})
    result = run(path, "--out", tmp_path / "out", "--model", model)
    assert result.exit_code == 1
    assert "version 0.9" in result.output
    assert "Traceback" not in result.output


def test_without_feedback_the_columns_stay_but_are_empty(tmp_path: Path) -> None:
    path = scores_file(tmp_path / "in.csv", {"a": [14, 16, 21]})
    assert run(path, "--out", tmp_path / "out", "--no-feedback").exit_code == 0
    s = sessions(tmp_path / "out")
    assert {"signal", "rupture", "dropout_risk", "risk_flags"} <= set(s.columns)
    assert s.signal.isna().all()
    assert s.score.tolist() == [14, 16, 21]


def test_an_episode_without_its_first_session_gets_no_signal_and_a_note(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("client,session,measure,score\na,1,phq9,14\na,2,phq9,20\nb,3,phq9,20\n")
    result = run(path, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "1 episodes have no session 1: no expected course or signal" in result.output
    s = sessions(tmp_path / "out").set_index("client")
    assert pd.isna(s.loc["b", "signal"])
    assert s.loc["a"].signal.tolist() == ["green", "red"]
