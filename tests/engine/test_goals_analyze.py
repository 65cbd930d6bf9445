"""`ally analyze` with goals: GAS rows checked and each goal's course in `episodes`."""

from __future__ import annotations

import csv
from pathlib import Path

from click.testing import CliRunner, Result

from ally.cli.main import cli

HEADER = ["client", "session", "measure", "rater", "score", "item1", "item2", "item3"]


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["analyze", *map(str, args), "--no-progress"])


def write(path: Path, rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_gas_rows_are_scored_as_the_kiresuk_sherman_t_score_and_checked(tmp_path: Path) -> None:
    # Kiresuk & Sherman (1968): three goals all at -1 give T = 36.3 (rho = 0.3, equal weights).
    path = write(
        tmp_path / "gas.csv",
        [
            ["a", 1, "gas", "clinician", 36.3, -1, -1, -1],
            ["a", 5, "gas", "clinician", "", 0, 0, 0],
            ["b", 1, "gas", "clinician", 40, -1, -1, -1],
            ["b", 2, "gas", "clinician", "", 3, "", ""],
            ["c", 1, "gas", "clinician", 85, "", "", ""],
        ],
    )
    assert run(path, "--out", tmp_path / "out").exit_code == 0
    reasons = {int(r["line"]): r["reason"] for r in read(tmp_path / "out" / "rejected.csv")}
    assert reasons == {
        4: "score 40 does not match the total of the items, 36.31",
        5: "item1: answer 3 is not allowed; give one of -2, -1, 0, 1, 2",
        6: "score 85 is outside gas's range 19.8489 to 80.1511",
    }
    (episode,) = read(tmp_path / "out" / "episodes.csv")
    assert abs(float(episode["first_score"]) - 36.307) < 1e-3
    assert float(episode["last_score"]) == 50


def test_episodes_give_each_goals_first_and_last_rating_and_reliable_progress(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path / "goals.csv",
        [
            ["a", 1, "goal-progress", "client", "", 2, 5, ""],
            ["a", 2, "goal-progress", "client", "", 4, 4, 1],
            ["a", 4, "goal-progress", "client", "", 6, 2, 3],
        ],
    )
    assert run(path, "--out", tmp_path / "out").exit_code == 0
    (row,) = read(tmp_path / "out" / "episodes.csv")
    assert (row["goal1_first"], row["goal1_last"], row["goal1_change"]) == ("2.0", "6.0", "4.0")
    assert row["goal1_progress"] == "progress"
    assert row["goal2_progress"] == "deterioration"
    # Goal 3 was set at session 2: its course starts there; 2 points is not reliable at 3.
    assert (row["goal3_first"], row["goal3_progress"]) == ("1.0", "no reliable change")
    assert row["goal4_first"] == ""

    assert run(path, "--out", tmp_path / "two", "--goal-threshold", "2").exit_code == 0
    (row,) = read(tmp_path / "two" / "episodes.csv")
    assert row["goal3_progress"] == "progress"
