"""`ally research mixed` and `ally research alliance-outcome` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ally.cli.main import cli
from ally.simulate import SimulationConfig, simulate

DATA = Path(__file__).parents[1] / "research" / "data"


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [*map(str, args)])


def test_mixed_prints_what_lme4_prints_for_sleepstudy(tmp_path: Path) -> None:
    # lme4's fm1 on sleepstudy (see tests/research/test_mixed_models.py for the source).
    out = tmp_path / "fit.json"
    result = run(
        "research",
        "mixed",
        DATA / "sleepstudy.csv",
        "--outcome",
        "Reaction",
        "--predictors",
        "Days",
        "--group",
        "Subject",
        "--random-slope",
        "Days",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    text = result.output
    assert "REML criterion (−2 REML log-likelihood): 1743.6283" in text
    assert "observations: 180; groups: Subject 18" in text
    for printed in ("251.405", "6.825", "10.467", "1.546", "24.741", "5.922", "0.066", "25.592"):
        assert printed in text
    found = json.loads(out.read_text(encoding="utf-8"))
    assert found["estimation"] == "REML"
    assert round(found["fixed_effects"][1]["se"], 3) == 1.546


def test_mixed_by_ml_gives_the_log_likelihood_and_deviance() -> None:
    result = run(
        "research",
        "mixed",
        DATA / "Dyestuff.csv",
        "--outcome",
        "Yield",
        "--group",
        "Batch",
        "--ml",
    )
    assert result.exit_code == 0, result.output
    assert "log-likelihood: -163.6635; deviance: 327.3271" in result.output


def test_mixed_names_a_missing_column_and_the_columns_there_are() -> None:
    result = run(
        "research", "mixed", DATA / "Dyestuff.csv", "--outcome", "Yeld", "--group", "Batch"
    )
    assert result.exit_code == 1
    assert "no column 'Yeld'; its columns are Batch, Yield" in result.output


def test_mixed_points_to_the_line_of_a_value_that_is_not_a_number(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("y,x,g\n1,2,a\n2,three,a\n3,4,b\n", encoding="utf-8")
    result = run("research", "mixed", path, "--outcome", "y", "--predictors", "x", "--group", "g")
    assert result.exit_code == 1
    assert "line 3: column 'x' holds 'three', not a number" in result.output


@pytest.fixture(scope="module")
def practice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("practice")
    simulate(SimulationConfig(episodes=60, seed=1), out, "csv")
    return out


def test_alliance_outcome_on_a_simulated_practice(practice: Path, tmp_path: Path) -> None:
    # The simulator lowers next session's severity when a session's alliance lies above the
    # client's own level (docs/simulation.md, alliance_within_effect), so the within-person
    # effect on the PHQ-9 is negative.
    out = tmp_path / "ao.json"
    result = run(
        "research",
        "alliance-outcome",
        practice / "sessions.csv",
        "--alliance",
        "ally-alliance",
        "--outcome",
        "phq9",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    assert "at session s and outcome (phq9) at session s + 1" in result.output
    found = json.loads(out.read_text(encoding="utf-8"))
    assert found["within_person"]["ci_high"] < 0
    assert found["random_effects"] == "random intercept per client"
    assert found["clients"] > 30


def test_alliance_outcome_reads_an_analysis_folder_and_reports_therapist_effects(
    practice: Path, tmp_path: Path
) -> None:
    analysis = tmp_path / "analysis"
    assert (
        run(
            "analyze",
            practice / "sessions.csv",
            "--out",
            analysis,
            "--no-progress",
            "--no-feedback",
        ).exit_code
        == 0
    )
    result = run(
        "research",
        "alliance-outcome",
        analysis,
        "--alliance",
        "ally-alliance",
        "--outcome",
        "phq9",
        "--clinician-effects",
        "--bootstrap",
        "20",
    )
    assert result.exit_code == 0, result.output
    assert "share of the next outcome's variance between clinicians (ICC)" in result.output
    assert "parametric bootstrap, percentile interval, 20 of 20 samples" in result.output
    assert "below 30 the clinicians' share of variance is poorly estimated" in result.output


def test_alliance_outcome_names_the_measures_the_data_hold(practice: Path) -> None:
    result = run(
        "research",
        "alliance-outcome",
        practice / "sessions.csv",
        "--alliance",
        "srs",
        "--outcome",
        "phq9",
    )
    assert result.exit_code == 1
    assert "no alliance scores of srs rated by the client; the data hold ally-alliance" in (
        result.output
    )
