"""`ally simulate`: a deterministic synthetic practice in the analyze format, with ground truth."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from ally.cli.simulate import simulate as simulate_command
from ally.measures import load_library
from ally.scoring import score
from ally.simulate import SimulationConfig, simulate
from ally.simulate.calibration import TARGETS

FILES = ("sessions.csv", "truth_sessions.csv", "truth_episodes.csv", "config.json")
SESSION_COLUMNS = [
    "client",
    "episode",
    "clinician",
    "group",
    "session",
    "date",
    "measure",
    "rater",
    *[f"item{i}" for i in range(1, 11)],
    "ending",
]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def practice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("practice")
    simulate(SimulationConfig(episodes=150, seed=7), out)
    return out


@pytest.fixture(scope="module")
def sessions(practice: Path) -> list[dict[str, str]]:
    return _rows(practice / "sessions.csv")


@pytest.fixture(scope="module")
def truth_sessions(practice: Path) -> list[dict[str, str]]:
    return _rows(practice / "truth_sessions.csv")


@pytest.fixture(scope="module")
def truth_episodes(practice: Path) -> list[dict[str, str]]:
    return _rows(practice / "truth_episodes.csv")


def test_the_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        simulate(SimulationConfig(episodes=60, seed=seed), tmp_path / name)
    for file in FILES:
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()
    for file in FILES[:3]:
        assert (tmp_path / "a" / file).read_bytes() != (tmp_path / "c" / file).read_bytes()


def test_small_chunks_still_give_one_consistent_practice(tmp_path: Path) -> None:
    simulate(SimulationConfig(episodes=250, seed=3, chunk_episodes=100), tmp_path)
    episodes = _rows(tmp_path / "truth_episodes.csv")
    assert len({e["episode"] for e in episodes}) == 250
    groups = [e["group"] for e in episodes if e["group"]]
    sizes = np.unique(groups, return_counts=True)[1]
    assert sizes.min() >= 6
    assert sizes.max() <= 10


def test_a_practice_too_small_for_a_group_simulates(tmp_path: Path) -> None:
    simulate(SimulationConfig(episodes=12, seed=3), tmp_path)
    episodes = _rows(tmp_path / "truth_episodes.csv")
    assert len(episodes) == 12
    assert not any(e["group"] for e in episodes)


def test_sessions_follow_the_analyze_long_format(sessions: list[dict[str, str]]) -> None:
    assert list(sessions[0]) == SESSION_COLUMNS
    lengths = {"phq9": 9, "gad7": 7, "core10": 10, "ally-alliance": 7, "ally-group": 7}
    for row in sessions:
        assert row["measure"] in lengths
        assert row["rater"] in ("client", "clinician")
        assert row["ending"] in ("planned", "dropout", "ongoing")
        assert int(row["session"]) >= 1
        dt.date.fromisoformat(row["date"])
        n = lengths[row["measure"]]
        assert all(row[f"item{i}"] == "" for i in range(n + 1, 11))
        if row["rater"] == "clinician":
            assert row["measure"] == "ally-alliance"


def test_every_administration_scores_without_error(sessions: list[dict[str, str]]) -> None:
    library = load_library()
    endorsed = 0
    for row in sessions:
        measure = library.get(row["measure"])
        answers = [
            float(row[f"item{i}"]) if row[f"item{i}"] else None
            for i in range(1, len(measure.items) + 1)
        ]
        result = score(measure, answers)
        endorsed += bool(result.critical)
        if measure.id == "ally-alliance":
            assert set(result.subscales) == {"bond", "goals", "tasks", "overall"}
    assert endorsed > 0


def test_about_one_percent_of_answers_are_missing(sessions: list[dict[str, str]]) -> None:
    lengths = {"phq9": 9, "gad7": 7, "core10": 10, "ally-alliance": 7, "ally-group": 7}
    given = sum(lengths[r["measure"]] for r in sessions)
    missing = sum(
        r[f"item{i}"] == "" for r in sessions for i in range(1, lengths[r["measure"]] + 1)
    )
    assert 0.003 < missing / given < 0.02


def test_core10_items_2_and_3_are_answered_reverse_keyed(tmp_path: Path) -> None:
    simulate(SimulationConfig(episodes=400, seed=5, core10_share=1.0), tmp_path)
    rows = [r for r in _rows(tmp_path / "sessions.csv") if r["measure"] == "core10"]
    items = np.array(
        [[float(r[f"item{i}"] or "nan") for i in (1, 2, 3, 9)] for r in rows], dtype=float
    )
    ok = ~np.isnan(items).any(axis=1)
    r = np.corrcoef(items[ok].T)
    assert r[0, 3] > 0.3  # tense/anxious with unhappy
    assert r[0, 1] < -0.2  # tense/anxious against someone to turn to
    assert r[0, 2] < -0.2  # tense/anxious against able to cope


def test_sessions_are_weekly_with_gaps_for_missed_weeks(sessions: list[dict[str, str]]) -> None:
    dates: dict[str, dict[int, dt.date]] = defaultdict(dict)
    for row in sessions:
        dates[row["episode"]][int(row["session"])] = dt.date.fromisoformat(row["date"])
    gaps = []
    for by_session in dates.values():
        numbers = sorted(by_session)
        assert numbers == list(range(1, len(numbers) + 1))
        for a, b in itertools.pairwise(numbers):
            days = (by_session[b] - by_session[a]).days
            assert days > 0
            assert days % 7 == 0
            gaps.append(days // 7)
    assert 0.8 < np.mean(np.array(gaps) == 1) < 0.97


def test_ground_truth_rows_match_the_sessions(
    sessions: list[dict[str, str]], truth_sessions: list[dict[str, str]]
) -> None:
    seen = {(r["episode"], r["session"], r["date"]) for r in sessions}
    truth = {(r["episode"], r["session"], r["date"]) for r in truth_sessions}
    assert seen == truth


def test_repairs_follow_ruptures_within_the_repair_window(
    truth_sessions: list[dict[str, str]],
) -> None:
    by_episode: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in truth_sessions:
        by_episode[row["episode"]].append(row)
    ruptures = repairs = 0
    for rows in by_episode.values():
        rows.sort(key=lambda r: int(r["session"]))
        open_at: int | None = None
        for row in rows:
            session = int(row["session"])
            if row["repair"] == "true":
                assert open_at is not None, "a repair without a rupture before it"
                assert 1 <= session - open_at <= 3
                open_at = None
                repairs += 1
            if row["rupture"] == "true":
                assert session >= 2
                assert row["rupture_subscale"] in ("bond", "goals", "tasks")
                open_at = session
                ruptures += 1
            else:
                assert row["rupture_subscale"] == ""
    assert ruptures > 0
    assert 0 < repairs < ruptures


def test_a_rupture_shows_as_a_drop_in_its_subscale(truth_sessions: list[dict[str, str]]) -> None:
    previous: dict[str, dict[str, str]] = {}
    drops = []
    for row in sorted(truth_sessions, key=lambda r: (r["episode"], int(r["session"]))):
        before = previous.get(row["episode"])
        if row["rupture"] == "true" and before is not None:
            sub = row["rupture_subscale"]
            drops.append(float(before[f"{sub}_true"]) - float(row[f"{sub}_true"]))
        previous[row["episode"]] = row
    assert np.mean(drops) > 1.5


def test_endings_agree_between_sessions_truth_and_hazard(
    sessions: list[dict[str, str]],
    truth_sessions: list[dict[str, str]],
    truth_episodes: list[dict[str, str]],
) -> None:
    ending = {e["episode"]: e["ending"] for e in truth_episodes}
    for row in sessions:
        assert row["ending"] == ending[row["episode"]]
    last: dict[str, dict[str, str]] = {}
    for row in truth_sessions:
        hazard = float(row["dropout_hazard"])
        assert 0 <= hazard < 1
        if row["episode"] not in last or int(row["session"]) > int(last[row["episode"]]["session"]):
            last[row["episode"]] = row
    for e in truth_episodes:
        assert int(e["sessions"]) == int(last[e["episode"]]["session"])
        if e["ending"] == "dropout":
            assert float(last[e["episode"]]["dropout_hazard"]) > 0
        if e["ending"] == "planned":
            assert float(last[e["episode"]]["dropout_hazard"]) == 0
        if e["ending"] == "ongoing":
            assert int(e["eventual_sessions"]) > int(e["sessions"])
        else:
            assert e["eventual_ending"] == e["ending"]
        assert 0 < float(e["dropout_risk_s1"]) < 1
    assert {e["ending"] for e in truth_episodes} == {"planned", "dropout", "ongoing"}


def test_groups_share_a_clinician_and_a_first_date(sessions: list[dict[str, str]]) -> None:
    members: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for row in sessions:
        if row["group"] and row["session"] == "1":
            members[row["group"]].add((row["clinician"], row["date"]))
    assert members
    for firsts in members.values():
        assert len(firsts) == 1


def test_clinicians_rate_the_alliance_in_some_episodes(sessions: list[dict[str, str]]) -> None:
    rated = {r["episode"] for r in sessions if r["rater"] == "clinician"}
    everyone = {r["episode"] for r in sessions}
    assert 0.15 < len(rated) / len(everyone) < 0.45


def test_the_command_writes_parquet_and_reports_calibration(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        simulate_command,
        ["--out", str(tmp_path), "--episodes", "40", "--seed", "2", "--format", "parquet"],
    )
    assert result.exit_code == 0, result.output
    assert "dropout_share" in result.output
    for name in ("sessions", "truth_sessions", "truth_episodes"):
        assert pq.read_table(tmp_path / f"{name}.parquet").num_rows > 0
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["seed"] == 2
    assert config["episodes"] == 40
    assert "dropout_share" in json.loads((tmp_path / "calibration.json").read_text())


def test_the_command_rejects_a_bad_start_date(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        simulate_command, ["--out", str(tmp_path), "--start-date", "1/2/2024"]
    )
    assert result.exit_code != 0
    assert "not a date" in result.output


def test_ally_analyze_reads_the_output_without_rejecting_a_row(practice: Path) -> None:
    from ally.engine.analyze import analyze
    from ally.engine.options import Options

    out = practice / "analysis"
    analyze(Options(input=practice / "sessions.csv", out=out, threads=1, progress=False))
    assert len(_rows(out / "rejected.csv")) == 0


def test_calibration_lies_in_the_documented_ranges(tmp_path: Path) -> None:
    summary = simulate(SimulationConfig(episodes=1500, seed=1), tmp_path, "parquet")
    outside = {
        name: summary[name]
        for name, (_, _, (low, high)) in TARGETS.items()
        if not low <= summary[name] <= high
    }
    assert not outside, outside
    # Better early alliance goes with more improvement; repairs with better outcomes.
    assert summary["alliance_outcome_r"] > 0
    assert summary["within_person_lag_phq9_per_alliance_point"] < 0
