"""`ally fit`: the practice model it saves, and `ally analyze --model` applying it.

The key property (docs/feedback.md, "The practice model"): `ally analyze INPUT` gives the very
files that `ally fit INPUT` followed by `ally analyze INPUT --model` gives, and an episode's rows
are the same analysed alone as inside its whole practice.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from ally.change.reliable import Z_975
from ally.cli.main import cli
from ally.feedback.etr import EtrModel, RationalEtr
from ally.feedback.practice import PracticeModel
from ally.feedback.signals import BudgetLevel
from ally.simulate import SimulationConfig, simulate


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [*map(str, args), "--no-progress"])


def load(path: Path) -> PracticeModel:
    return PracticeModel.from_json(path.read_text(encoding="utf-8"), str(path))


def read_rows(path: Path) -> list[list[str]]:
    """A CSV file's rows as text, header first."""
    with path.open(newline="") as f:
        return list(csv.reader(f))


def history(path: Path, n: int, endings: list[str] | None = None, seed: int = 3) -> Path:
    """`n` PHQ-9 episodes of 3–12 sessions improving along ln(session), as `ally fit` reads
    them; each episode's ending is "planned" unless `endings` says otherwise."""
    rng = np.random.default_rng(seed)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["client", "session", "measure", "score", "ending"])
        for e in range(n):
            intake = rng.uniform(10, 25)
            ending = endings[e] if endings else "planned"
            for s in range(1, int(rng.integers(3, 13)) + 1):
                score = np.clip(intake - 2.5 * math.log(s) + rng.normal(0, 1.5), 0, 27)
                writer.writerow([f"c{e}", s, "phq9", round(float(score), 2), ending])
    return path


def scores_file(path: Path, series: dict[str, list[float]], measure: str = "phq9") -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["client", "session", "measure", "score"])
        for client, scores in series.items():
            for session, score in enumerate(scores, start=1):
                writer.writerow([client, session, measure, score])
    return path


# --- A simulated practice large enough for every fitted part ------------------------------


@pytest.fixture(scope="module")
def practice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """115 simulated episodes: 108 completed, 23 of them dropouts (a dropout model needs 100 and
    20), and some 90 PHQ-9 episodes (an expected course needs 50)."""
    out = tmp_path_factory.mktemp("practice")
    simulate(SimulationConfig(episodes=115, seed=7), out, "csv")
    return out / "sessions.csv"


@pytest.fixture(scope="module")
def model(practice: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "model.json"
    result = run("fit", practice, "--out", path)
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="module")
def applied(practice: Path, model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The practice analysed with its fitted model."""
    out = tmp_path_factory.mktemp("applied")
    result = run("analyze", practice, "--model", model, "--out", out)
    assert result.exit_code == 0, result.output
    return out


def test_the_model_file_is_plain_json_with_its_training_and_reads_back_unchanged(
    practice: Path, model: Path
) -> None:
    text = model.read_text(encoding="utf-8")
    data = json.loads(text)
    assert data["format"] == "ally-practice-model"
    assert data["format_version"] == 2
    dates = pd.read_csv(practice, usecols=["episode", "date"])
    training = data["training"]
    assert training["episodes"] == dates["episode"].nunique() == 115
    assert training["first_date"] == dates["date"].min()
    assert training["last_date"] == dates["date"].max()
    assert training["ally_version"] == metadata.version("ally")
    assert PracticeModel.from_json(text).to_json() == text


def test_analyze_without_a_model_writes_the_files_of_fit_then_analyze_with_it(
    practice: Path, model: Path, applied: Path, tmp_path: Path
) -> None:
    fitted = load(model)
    # Every part the practice can fit is fitted, so that each is compared.
    assert fitted.dropout is not None
    phq9 = fitted.measures["phq9"].outcome
    assert phq9 is not None
    assert isinstance(phq9.expected, EtrModel)
    result = run("analyze", practice, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    for name in ("sessions.csv", "episodes.csv"):
        assert (tmp_path / name).read_bytes() == (applied / name).read_bytes(), name
    risk = pd.read_csv(applied / "sessions.csv", usecols=["dropout_risk"])["dropout_risk"]
    assert risk.notna().any()


def test_an_episode_analysed_alone_with_the_model_has_its_rows_in_the_whole_practice(
    practice: Path, model: Path, applied: Path, tmp_path: Path
) -> None:
    everyone = pd.read_csv(applied / "sessions.csv", dtype=str, keep_default_na=False)
    # The episode with the most rows among those with a rupture and a dropout risk.
    marked = everyone[(everyone["rupture"] == "true") & (everyone["dropout_risk"] != "")]
    episode = everyone[everyone["episode"].isin(marked["episode"])]["episode"].value_counts()
    chosen = str(episode.index[0])
    given = pd.read_csv(practice, dtype=str, keep_default_na=False)
    given[given["episode"] == chosen].to_csv(tmp_path / "one.csv", index=False)
    result = run("analyze", tmp_path / "one.csv", "--model", model, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    for name in ("sessions.csv", "episodes.csv"):
        whole = read_rows(applied / name)
        at = whole[0].index("episode")
        ours = [row for row in whole[1:] if row[at] == chosen]
        assert len(ours) > 1
        assert read_rows(tmp_path / "out" / name) == [whole[0], *ours], name


def test_etr_fit_and_risk_fit_are_aliases_that_write_a_practice_model(tmp_path: Path) -> None:
    data = history(tmp_path / "history.csv", 20)
    # Their old options are ignored, so that scripts calling them keep working.
    for command, old in (("etr", ["--measure", "phq9"]), ("risk", ["--folds", "3"])):
        out = tmp_path / f"{command}.json"
        result = run(command, "fit", data, *old, "--out", out)
        assert result.exit_code == 0, result.output
        assert "is now part of `ally fit`" in result.output
        assert set(load(out).measures) == {"phq9"}


# --- The expected course and its alert budget ------------------------------------------------


def test_an_expected_course_is_fitted_on_80_completed_phq9_episodes_and_stored(
    tmp_path: Path,
) -> None:
    out = tmp_path / "m.json"
    result = run("fit", history(tmp_path / "history.csv", 80), "--out", out)
    assert result.exit_code == 0, result.output
    assert "signals from the expected course fitted on 80 episodes" in result.output
    outcome = load(out).measures["phq9"].outcome
    assert outcome is not None
    assert isinstance(outcome.expected, EtrModel)
    assert outcome.expected.summary.episodes == 80
    assert outcome.expected.summary.completed_only


def test_too_little_history_gives_the_rational_course_and_says_why_with_the_counts(
    tmp_path: Path,
) -> None:
    out = tmp_path / "m.json"
    result = run("fit", history(tmp_path / "history.csv", 10), "--out", out)
    assert result.exit_code == 0, result.output
    phq9 = load(out).measures["phq9"]
    assert phq9.outcome is not None
    assert isinstance(phq9.outcome.expected, RationalEtr)
    why = next(n for n in phq9.notes if "no fitted expected course" in n)
    assert "at least 50 completed episodes" in why
    assert "the data have 10" in why
    assert why in result.output.replace("\n", " ")


def test_too_little_history_counts_completed_episodes_when_endings_are_given(
    tmp_path: Path,
) -> None:
    endings = ["planned"] * 30 + ["ongoing"] * 50
    out = tmp_path / "m.json"
    result = run("fit", history(tmp_path / "history.csv", 80, endings), "--out", out)
    assert result.exit_code == 0, result.output
    notes = " ".join(load(out).measures["phq9"].notes)
    assert "at least 50 completed episodes (ending planned or dropout)" in notes
    assert "the data have 30. Also left out: 0 episodes without a session-1 score, 50 not" in notes


def test_the_alert_budget_is_calibrated_and_stored_with_the_expected_course(
    tmp_path: Path,
) -> None:
    out = tmp_path / "m.json"
    data = history(tmp_path / "history.csv", 100)
    result = run("fit", data, "--out", out, "--alert-budget", "0.2", "--budget-level", "any")
    assert result.exit_code == 0, result.output
    stored = json.loads(out.read_text())["measures"]["phq9"]["outcome"]["expected"]["model"]
    assert stored["alert_budget"]["level"] == "any"
    outcome = load(out).measures["phq9"].outcome
    assert outcome is not None
    assert isinstance(outcome.expected, EtrModel)
    budget = outcome.expected.budget
    assert budget is not None
    assert budget.level is BudgetLevel.ANY
    assert budget.share_flagged <= 0.2
    assert outcome.expected.thresholds == budget.thresholds
    # The signals of `ally analyze --model` use the budget's thresholds.
    assert outcome.thresholds == budget.thresholds


# --- Published values where the history is short ---------------------------------------------


def test_a_measure_uses_its_published_reliable_change_whatever_its_history(
    tmp_path: Path,
) -> None:
    # PHQ-9's published reliable change is 6 points (NHS Talking Therapies manual): a fall of 6
    # is reliable improvement, a fall of 5 is not. The RCI is the change over 6 / z, z = 1.96.
    series = {"six": [15, 12, 9], "five": [15, 12, 10], "same": [12, 12]}
    path = scores_file(tmp_path / "in.csv", series)
    out = tmp_path / "m.json"
    assert run("fit", path, "--out", out).exit_code == 0
    phq9 = load(out).measures["phq9"]
    assert "client: reliable change: the published 6 points" in phq9.notes
    result = run("analyze", path, "--model", out, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    episodes = pd.read_csv(tmp_path / "out" / "episodes.csv").set_index("client")
    assert episodes.loc["six", "rci"] == pytest.approx(-Z_975)
    assert episodes.loc["six", "reliable_change"] == "improved"
    assert episodes.loc["five", "rci"] == pytest.approx(-5 * Z_975 / 6)
    assert episodes.loc["five", "reliable_change"] == "unchanged"


# --- Models that cannot be applied -----------------------------------------------------------


def test_a_model_without_a_measure_of_the_input_exits_1_and_says_what_to_do(
    model: Path, tmp_path: Path
) -> None:
    path = scores_file(tmp_path / "in.csv", {"a": [20, 18]}, measure="ors")
    result = run("analyze", path, "--model", model, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "the model has no measure 'ors', which the input has" in result.output
    assert "Fit a model on data that include it (`ally fit`), or leave out --model" in (
        result.output.replace("\n", " ")
    )
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"format": "ally-practice', "not JSON"),
        ('{"format": "ally-etr-model"}', "not an Ally practice model"),
        ('{"format": "ally-practice-model", "format_version": 1}', "incomplete or damaged"),
    ],
)
def test_a_damaged_model_file_exits_1_and_says_to_fit_it_again(
    text: str, message: str, tmp_path: Path
) -> None:
    model = tmp_path / "model.json"
    model.write_text(text, encoding="utf-8")
    path = scores_file(tmp_path / "in.csv", {"a": [20, 18]})
    result = run("analyze", path, "--model", model, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    output = result.output.replace("\n", " ")
    assert f"{model}: {message}" in output
    assert "Fit it again with `ally fit`." in output
    assert "Traceback" not in output


def test_analyze_with_a_model_refuses_the_options_that_shape_a_model(
    model: Path, tmp_path: Path
) -> None:
    path = scores_file(tmp_path / "in.csv", {"a": [20, 18]})
    result = run(
        "analyze", path, "--out", tmp_path / "out", "--model", model, "--reliability", "0.5"
    )
    assert result.exit_code == 2
    assert "--reliability shape the practice model" in result.output
    assert "give them to `ally fit`" in result.output


def test_data_that_never_say_how_episodes_ended_fit_the_course_on_every_episode(
    tmp_path: Path,
) -> None:
    rows = pd.read_csv(history(tmp_path / "h.csv", 80)).drop(columns="ending")
    rows.to_csv(tmp_path / "no_endings.csv", index=False)
    out = tmp_path / "m.json"
    assert run("fit", tmp_path / "no_endings.csv", "--out", out).exit_code == 0
    course = load(out).measures["phq9"].outcome
    assert course is not None
    assert isinstance(course.expected, EtrModel)
    assert course.expected.summary.episodes == 80
    assert not course.expected.summary.completed_only


def test_a_folder_ally_analyze_wrote_fits_the_model_its_input_fits(
    practice: Path, model: Path, applied: Path, tmp_path: Path
) -> None:
    out = tmp_path / "from_folder.json"
    result = run("fit", applied, "--out", out)
    assert result.exit_code == 0, result.output
    from_input, from_folder = load(model).to_dict(), load(out).to_dict()
    # The scores are the same, so are the estimates; only Cronbach's alpha needs item answers,
    # which an analysis does not keep, and with it the alliance subscales' own rupture
    # thresholds, so only the total ruptures, and the dropout model learns from those ruptures.
    for measure in ("phq9", "gad7"):
        assert from_folder["measures"][measure] == from_input["measures"][measure]
    assert from_input["measures"]["ally-alliance"]["subscale_drops"]
    assert from_folder["measures"]["ally-alliance"]["subscale_drops"] == []
    assert "bond: its reliability cannot be estimated" in result.output
    total_only = tmp_path / "total_only.json"
    assert run("fit", practice, "--subscale-rupture-z", "off", "--out", total_only).exit_code == 0
    assert from_folder["dropout"] is not None
    assert from_folder["dropout"] == load(total_only).to_dict()["dropout"]


def test_a_practices_own_reliable_change_is_named_beside_the_published_one(
    model: Path,
) -> None:
    # The simulated practice has enough PHQ-9 history for its own estimate; the published 6
    # points are used, so every screen and the red signal use one threshold, and the source
    # says what the practice's own episodes would give.
    phq9 = load(model).measures["phq9"].raters["client"]
    assert phq9.source.startswith("published reliable change of 6 points")
    assert "the practice's own" in phq9.source
    assert load(model).measures["phq9"].outcome.reliable_change == 6  # type: ignore[union-attr]


def test_a_reliability_given_for_research_uses_the_samples_own_index(
    tmp_path: Path,
) -> None:
    series = {f"c{k}": [14 + k % 5, 10 - k % 4] for k in range(40)}
    path = scores_file(tmp_path / "in.csv", series)
    out = tmp_path / "m.json"
    assert run("fit", path, "--out", out, "--reliability", "0.89").exit_code == 0
    phq9 = load(out).measures["phq9"].raters["client"]
    assert phq9.source.startswith("JT reliable change from 40 of the practice's episodes")


# --- Sudden gains: criterion 1 is part of the model ------------------------------------------


def test_a_sudden_gain_cutoff_is_fitted_into_the_model_and_analyze_equals_fit_then_apply(
    tmp_path: Path,
) -> None:
    data = history(tmp_path / "history.csv", 40)
    given = ("--sudden-gain-cutoff", "phq9=3", "--sudden-gain-z", "2.576")
    out = tmp_path / "m.json"
    assert run("fit", data, *given, "--out", out).exit_code == 0
    phq9 = load(out).measures["phq9"].change("client")
    assert phq9 is not None
    assert phq9.sudden_gain_criterion == 3
    applied = run("analyze", data, "--model", out, "--out", tmp_path / "applied")
    assert applied.exit_code == 0, applied.output
    direct = run("analyze", data, *given, "--out", tmp_path / "direct")
    assert direct.exit_code == 0, direct.output
    for name in ("sessions.csv", "episodes.csv"):
        assert (tmp_path / "direct" / name).read_bytes() == (
            tmp_path / "applied" / name
        ).read_bytes(), name
    # With the published 6 points fewer of these small falls are sudden gains.
    assert run("analyze", data, "--out", tmp_path / "published").exit_code == 0
    counts = {
        folder: pd.read_csv(tmp_path / folder / "episodes.csv")["sudden_gains"].sum()
        for folder in ("direct", "published")
    }
    assert counts["direct"] > counts["published"]
    assert "criterion 1: a change of 3.00 points or more between sessions, as given" in (
        direct.output.replace("\n", " ")
    )


def test_analyze_with_a_model_refuses_the_sudden_gain_and_subscale_options(
    model: Path, tmp_path: Path
) -> None:
    path = scores_file(tmp_path / "in.csv", {"a": [20, 18]})
    for given in (
        ["--sudden-gain-cutoff", "phq9=7"],
        ["--sudden-gain-z", "1.96"],
        ["--subscale-rupture-z", "off"],
    ):
        result = run("analyze", path, "--out", tmp_path / "out", "--model", model, *given)
        assert result.exit_code == 2, given
        assert f"{given[0]} shape the practice model" in result.output


@pytest.mark.parametrize("given", ["phq9", "phq9=0", "phq9=-2", "phq9=seven", "=7", "phq9=nan"])
def test_a_sudden_gain_cutoff_is_measure_equals_points_above_0(given: str, tmp_path: Path) -> None:
    path = scores_file(tmp_path / "in.csv", {"a": [20, 18]})
    result = run("analyze", path, "--out", tmp_path / "out", "--sudden-gain-cutoff", given)
    assert result.exit_code == 2
    assert "give MEASURE=POINTS with a number of points above 0, e.g. phq9=7" in result.output


def test_a_sudden_gain_cutoff_for_a_measure_the_input_lacks_exits_1_and_names_it(
    tmp_path: Path,
) -> None:
    path = scores_file(tmp_path / "in.csv", {"a": [20, 18]})
    result = run("fit", path, "--out", tmp_path / "m.json", "--sudden-gain-cutoff", "gad7=4")
    assert result.exit_code == 1
    assert "--sudden-gain-cutoff names gad7, which the input does not have" in result.output
    assert "its measures are phq9" in result.output


def test_subscale_rupture_z_sets_the_alliance_subscales_own_thresholds(
    practice: Path, model: Path, tmp_path: Path
) -> None:
    default = load(model).measures["ally-alliance"].subscale_drops
    assert {d.subscale for d in default} == {"bond", "goals", "tasks"}
    assert [d.z for d in default] == [pytest.approx(2.5758293035489)] * 3
    out = tmp_path / "m.json"
    assert run("fit", practice, "--subscale-rupture-z", "1.96", "--out", out).exit_code == 0
    drops = load(out).measures["ally-alliance"].subscale_drops
    for lower, higher in zip(drops, default, strict=True):
        assert lower.points == pytest.approx(higher.points * 1.96 / higher.z)
    for bad in ("0", "-1", "none", "inf"):
        result = run("fit", practice, "--subscale-rupture-z", bad, "--out", out)
        assert result.exit_code == 2, bad
        assert "give a z above 0 (e.g. 2.576) or off" in result.output


def test_an_analysis_folder_that_repeats_a_row_is_refused_with_the_row(
    applied: Path, tmp_path: Path
) -> None:
    # Two analyses put together by hand may repeat a row; an analysis' rows have no input lines
    # to keep the earliest of, so the repeat is named, not a traceback.
    folder = tmp_path / "joined"
    shutil.copytree(applied, folder)
    sessions = pd.read_csv(folder / "sessions.csv", dtype=str, keep_default_na=False)
    pd.concat([sessions, sessions.head(3)]).to_csv(folder / "sessions.csv", index=False)
    result = run("fit", folder, "--out", tmp_path / "joined.json")
    assert result.exit_code == 1
    assert "the analysis' sessions have 3 repeated rows, the first for client" in result.output
    assert "Traceback" not in result.output
