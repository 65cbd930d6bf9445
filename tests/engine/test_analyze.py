"""`ally analyze` end to end: the documented formats, the published headline, every bad input."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from ally.cli.main import cli
from ally.engine.analyze import analyze, fit
from ally.engine.options import Options
from ally.measures import load_library
from ally.measures.schema import Direction
from ally.scoring import score

PHQ9 = load_library().get("phq9")
ITEMS = [f"item{k}" for k in range(1, 10)]


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["analyze", *map(str, args), "--no-progress"])


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def phq9_rows(client: str, sessions: list[list[int | str]]) -> list[list[object]]:
    return [[client, n, "phq9", *answers] for n, answers in enumerate(sessions, start=1)]


HEADER = ["client", "session", "measure", *ITEMS]


@pytest.fixture
def practice(tmp_path: Path) -> Path:
    """Four clients on PHQ-9: one recovers, one stays, one worsens, one with a single session."""
    rows = (
        phq9_rows("a", [[3, 3, 2, 2, 2, 2, 2, 2, 1], [2, 2, 2, 1, 1, 1, 1, 1, 0], [1] * 8 + [0]])
        + phq9_rows("b", [[2] * 8 + [0], [2] * 8 + [0]])
        + phq9_rows("c", [[1] * 8 + [0], [2] * 8 + [0], [3] * 8 + [1]])
        + phq9_rows("d", [[2] * 9])
    )
    return write_csv(tmp_path / "practice.csv", HEADER, rows)


def test_claus_2020_bdi_reproduces_the_published_10_recovered_8_improved_22_unchanged(
    shared_data: Path, tmp_path: Path
) -> None:
    # Claus, Wager & Bonnet (2024) JSS 111(1), headline example of clinicalsignificance;
    # SPECS section 1.1.
    result = run(
        shared_data / "claus_2020.csv",
        "--measures", "bdi", "--client-column", "id", "--session-column", "time",
        "--pre", "1", "--post", "4", "--reliability", "0.801", "--lower-is-better",
        "--functional-mean", "7.69", "--functional-sd", "7.52", "--out", tmp_path / "out",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "10 recovered, 8 improved, 22 unchanged, 0 deteriorated, 0 harmed" in result.output
    assert "cut-off 21.02" in result.output
    episodes = {r["client"]: r for r in read_csv(tmp_path / "out" / "episodes.csv")}
    assert len(episodes) == 43
    # Patient 9: 23 -> 8, RCI -15/5.147 = -2.91, recovered; patient 1: 33 -> 27, RCI -1.17.
    assert float(episodes["9"]["rci"]) == pytest.approx(-2.91, abs=0.005)
    assert episodes["9"]["category"] == "recovered"
    assert float(episodes["1"]["rci"]) == pytest.approx(-1.17, abs=0.005)
    assert episodes["1"]["category"] == "unchanged"
    incomplete = [r for r in episodes.values() if not r["category"]]
    assert len(incomplete) == 3


def test_claus_2020_bdi_first_and_last_sessions_by_default_give_the_published_counts(
    shared_data: Path, tmp_path: Path
) -> None:
    # Without --pre/--post each client's first and last sessions are compared; the three
    # clients with a single BDI score are no pre-post pairs, so the 40 complete cases and the
    # published figures stand (SPECS 1.1: cut-off 21.02; 10 recovered, 8 improved, 22 unchanged).
    result = run(
        shared_data / "claus_2020.csv",
        "--measures", "bdi", "--client-column", "id", "--session-column", "time",
        "--reliability", "0.801", "--lower-is-better",
        "--functional-mean", "7.69", "--functional-sd", "7.52", "--out", tmp_path / "out",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "cut-off 21.02" in result.output
    assert "10 recovered, 8 improved, 22 unchanged, 0 deteriorated, 0 harmed" in result.output


def test_item_answers_are_scored_as_the_core_scores_them(practice: Path, tmp_path: Path) -> None:
    result = run(practice, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    sessions = read_csv(tmp_path / "out" / "sessions.csv")
    source = read_csv(practice)
    assert len(sessions) == len(source)
    for out, row in zip(sessions, source, strict=True):
        expected = score(PHQ9, [float(row[i]) for i in ITEMS])
        assert float(out["score"]) == expected.total
        assert out["band"] == expected.band
        assert out["critical"].lower() == str(expected.critical).lower()


def test_sessions_carry_baseline_change_and_reliable_change(practice: Path, tmp_path: Path) -> None:
    assert run(practice, "--out", tmp_path / "out").exit_code == 0
    rows = [r for r in read_csv(tmp_path / "out" / "sessions.csv") if r["client"] == "a"]
    assert [float(r["baseline"]) for r in rows] == [19.0, 19.0, 19.0]
    assert [float(r["change"]) for r in rows] == [0.0, -8.0, -11.0]
    assert rows[0]["reliable_change"] == "unchanged"
    assert rows[0]["episode"] == "a"  # one episode per client by default


def test_a_single_session_episode_is_no_pre_post_pair(practice: Path, tmp_path: Path) -> None:
    assert run(practice, "--out", tmp_path / "out").exit_code == 0
    episodes = {r["client"]: r for r in read_csv(tmp_path / "out" / "episodes.csv")}
    assert episodes["d"]["sessions"] == "1"
    # One score has no change to classify: not "unchanged", and not in the sample statistics.
    assert (episodes["d"]["change"], episodes["d"]["rci"]) == ("", "")
    assert (episodes["d"]["reliable_change"], episodes["d"]["category"]) == ("", "")
    assert episodes["a"]["first_session"] == "1"
    assert episodes["a"]["last_session"] == "3"


def test_parquet_output_has_the_same_rows(practice: Path, tmp_path: Path) -> None:
    assert run(practice, "--out", tmp_path / "csv").exit_code == 0
    assert run(practice, "--out", tmp_path / "pq", "--format", "parquet").exit_code == 0
    table = pq.read_table(tmp_path / "pq" / "sessions.parquet")
    assert table.num_rows == len(read_csv(tmp_path / "csv" / "sessions.csv"))
    assert "subscale_bond" not in table.column_names
    # Client, episode and the other columns held as dictionaries in the run are written as text.
    for name in ("sessions", "episodes"):
        schema = pq.read_schema(tmp_path / "pq" / f"{name}.parquet")
        assert schema.field("client").type == schema.field("episode").type == pa.string()
        assert not [f.name for f in schema if pa.types.is_dictionary(f.type)]


def bad_rows(tmp_path: Path) -> tuple[Path, dict[int, str]]:
    ok = [1] * 9
    rows: list[list[object]] = [
        ["a", 1, "phq9", *ok],  # line 2, good
        ["", 2, "phq9", *ok],  # 3
        ["a", "two", "phq9", *ok],  # 4
        ["a", 0, "phq9", *ok],  # 5
        ["a", 3, "phq9", 1, 1, 4, 1, 1, 1, 1, 1, 1],  # 6
        ["a", 4, "phq9", 1, 1, "x", 1, 1, 1, 1, 1, 1],  # 7
        ["a", 5, "phq9", 1, 1, 1, "", "", "", 1, 1, 1],  # 8
        ["a", 1, "phq9", *ok],  # 9: duplicate of line 2
        ["a", 6, "phq9", *[""] * 9],  # 10
        ["a", 7, "", *ok],  # 11
    ]
    expected = {
        3: "client is empty",
        4: "session two is not a whole number from 1 up",
        5: "session 0 is not a whole number from 1 up",
        6: "item3: answer 4 is not allowed; give one of 0, 1, 2, 3",
        7: "item3 x is not a number",
        8: "6 of 9 items answered; at least 7 are needed for a score",
        9: "duplicate of line 2 (same client, episode, session, measure and rater)",
        10: "no score and no item answers",
        11: "measure is empty",
    }
    return write_csv(tmp_path / "bad.csv", HEADER, rows), expected


def test_bad_rows_go_to_rejected_csv_with_their_line_and_reason(tmp_path: Path) -> None:
    path, expected = bad_rows(tmp_path)
    result = run(path, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    rejected = read_csv(tmp_path / "out" / "rejected.csv")
    assert {int(r["line"]): r["reason"] for r in rejected} == expected
    assert "1 administrations analysed, 9 rejected" in result.output
    assert len(read_csv(tmp_path / "out" / "sessions.csv")) == 1


def test_strict_stops_when_any_row_is_rejected(tmp_path: Path) -> None:
    path, expected = bad_rows(tmp_path)
    result = run(path, "--out", tmp_path / "out", "--strict")
    assert result.exit_code == 1
    assert "9 rows break the input rules and --strict is on" in result.output
    assert len(read_csv(tmp_path / "out" / "rejected.csv")) == len(expected)
    assert not (tmp_path / "out" / "sessions.csv").exists()


def test_given_scores_out_of_range_or_unequal_to_their_items_are_rejected(tmp_path: Path) -> None:
    header = ["client", "session", "measure", "score", *ITEMS]
    path = write_csv(
        tmp_path / "scores.csv",
        header,
        [
            ["a", 1, "phq9", 28, *[""] * 9],
            ["a", 2, "phq9", 10, *[1] * 9],
            ["a", 3, "phq9", 9, *[1] * 9],
            ["a", 4, "phq9", "high", *[""] * 9],
        ],
    )
    assert run(path, "--out", tmp_path / "out").exit_code == 0
    reasons = {int(r["line"]): r["reason"] for r in read_csv(tmp_path / "out" / "rejected.csv")}
    assert reasons == {
        2: "score 28 is outside phq9's range 0 to 27",
        3: "score 10 does not match the total of the items, 9.0",
        5: "score high is not a number",
    }


def test_a_missing_file_is_one_clear_message(tmp_path: Path) -> None:
    result = run(tmp_path / "nowhere.csv", "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "nowhere.csv: no such file. Check the path." in result.output
    assert "Traceback" not in result.output


def test_an_unreadable_file_is_one_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"not parquet at all")
    result = run(path, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "cannot be read as Parquet" in result.output


def test_a_missing_client_column_names_the_columns_found(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "x.csv", ["who", "session", "measure", "score"], [["a", 1, "phq9", 3]]
    )
    result = run(path, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "no 'client' column" in result.output
    assert "--client-column" in result.output


def test_an_unknown_measure_stops_with_its_first_line(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "x.csv",
        ["client", "session", "measure", "score"],
        [["a", 1, "phq9", 3], ["a", 2, "phq", 3]],
    )
    result = run(path, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "unknown measure 'phq' (first on line 3)" in result.output


def test_sessions_are_numbered_by_date_when_there_is_no_session_column(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "dates.csv",
        ["client", "date", "measure", "score"],
        [
            ["a", "2026-03-10", "phq9", 12],
            ["a", "2026-03-03", "phq9", 15],
            ["a", "2026-03-03", "gad7", 9],
            ["a", "2026-03-17", "phq9", 8],
            ["a", "17/03/2026", "gad7", 8],
        ],
    )
    assert run(path, "--out", tmp_path / "out").exit_code == 0
    rows = read_csv(tmp_path / "out" / "sessions.csv")
    phq = [(r["date"], r["session"]) for r in rows if r["measure"] == "phq9"]
    assert phq == [("2026-03-03", "1"), ("2026-03-10", "2"), ("2026-03-17", "3")]
    gad = [(r["date"], r["session"]) for r in rows if r["measure"] == "gad7"]
    assert gad == [("2026-03-03", "1")]
    rejected = read_csv(tmp_path / "out" / "rejected.csv")
    assert rejected[0]["reason"] == "date 17/03/2026 is not an ISO 8601 date (YYYY-MM-DD)"


def test_a_measure_unknown_to_ally_is_analysed_from_command_line_parameters(
    tmp_path: Path,
) -> None:
    rows = [[c, s, "bdi", v] for c, s, v in [("a", 1, 30), ("a", 2, 10), ("b", 1, 25),
                                             ("b", 2, 24), ("c", 1, 28), ("c", 2, 35)]]  # fmt: skip
    path = write_csv(tmp_path / "x.csv", ["client", "session", "measure", "score"], rows)
    # Three episodes are enough here: the floor is lowered from its default of 30.
    result = run(
        path, "--out", tmp_path / "out", "--reliability", "0.9", "--lower-is-better",
        "--min-episodes", "3",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "bdi (client): 3 episodes, 3 with pre and post" in result.output
    episodes = {r["client"]: r for r in read_csv(tmp_path / "out" / "episodes.csv")}
    assert episodes["a"]["reliable_change"] == "improved"
    assert episodes["c"]["reliable_change"] == "deteriorated"


# SPECS 1.3: claus_2020 HAMD, time 1 vs 4, r .80 (NK: r_post .5); ids 1-3, as printed by
# clinicalsignificance for each method.
HAMD_IDS_1_TO_3 = {
    "jt": (-5.6805, -1.8935, -11.3611),
    "gln": (-5.9728, -2.9789, -11.6613),
    "hll": (-1.0454, 1.9485, -6.7338),
    "en": (-8.0134, -3.9967, -15.6452),
    "nk": (-4.5222, -2.2554, -8.8291),
    "ha": (-5.8210, -2.1724, -11.2940),
}


@pytest.mark.parametrize("method", sorted(HAMD_IDS_1_TO_3))
def test_every_rci_method_reproduces_the_published_hamd_indices(
    shared_data: Path, tmp_path: Path, method: str
) -> None:
    extra = ["--reliability-post", "0.5"] if method == "nk" else []
    result = run(
        shared_data / "claus_2020.csv",
        "--measures", "hamd", "--client-column", "id", "--session-column", "time",
        "--pre", "1", "--post", "4", "--reliability", "0.80", "--lower-is-better",
        "--rci-method", method, *extra, "--out", tmp_path / "out",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    episodes = {r["client"]: r for r in read_csv(tmp_path / "out" / "episodes.csv")}
    got = tuple(round(float(episodes[i]["rci"]), 4) for i in ("1", "2", "3"))
    assert got == HAMD_IDS_1_TO_3[method]


def test_clinician_ratings_are_analysed_apart_from_the_clients(tmp_path: Path) -> None:
    header = ["client", "session", "measure", "rater", *[f"item{k}" for k in range(1, 8)]]
    rows = [
        ["a", 1, "ally-alliance", "client", 4, 4, 3, 3, 4, 4, 4],
        ["a", 1, "ally-alliance", "clinician", 4, 4, 4, 4, 4, 4, 4],
        ["a", 2, "ally-alliance", "client", 2, 1, 3, 3, 4, 4, 3],
    ]
    path = write_csv(tmp_path / "alliance.csv", header, rows)
    assert run(path, "--out", tmp_path / "out").exit_code == 0
    sessions = read_csv(tmp_path / "out" / "sessions.csv")
    assert [(r["rater"], r["session"]) for r in sessions] == [
        ("client", "1"),
        ("client", "2"),
        ("clinician", "1"),
    ]
    first = sessions[0]
    assert (first["subscale_bond"], first["subscale_goals"], first["subscale_tasks"]) == (
        "8.0",
        "6.0",
        "8.0",
    )
    assert first["score"] == "26.0"
    episodes = read_csv(tmp_path / "out" / "episodes.csv")
    assert [(e["rater"], e["sessions"]) for e in episodes] == [("client", "2"), ("clinician", "1")]


def test_the_episode_ending_is_carried_to_episodes_and_checked(tmp_path: Path) -> None:
    header = ["client", "session", "measure", "score", "ending"]
    rows = [
        ["a", 1, "phq9", 15, ""],
        ["a", 2, "phq9", 9, "planned"],
        ["b", 1, "phq9", 20, "dropout"],
        ["c", 1, "phq9", 12, "stopped"],
    ]
    path = write_csv(tmp_path / "endings.csv", header, rows)
    assert run(path, "--out", tmp_path / "out").exit_code == 0
    episodes = {e["client"]: e["ending"] for e in read_csv(tmp_path / "out" / "episodes.csv")}
    assert episodes == {"a": "planned", "b": "dropout"}
    (rejected,) = read_csv(tmp_path / "out" / "rejected.csv")
    assert rejected["reason"] == "ending stopped must be planned, dropout or ongoing"


def test_client_minus_clinician_discrepancy_is_on_the_clients_row(tmp_path: Path) -> None:
    header = ["client", "session", "measure", "rater", "score"]
    rows = [
        ["a", 1, "ally-alliance", "client", 20],
        ["a", 1, "ally-alliance", "clinician", 26],
        ["a", 2, "ally-alliance", "client", 24],
    ]
    path = write_csv(tmp_path / "both.csv", header, rows)
    assert run(path, "--out", tmp_path / "out").exit_code == 0
    found = [
        (r["rater"], r["session"], r["discrepancy"])
        for r in read_csv(tmp_path / "out" / "sessions.csv")
    ]
    assert found == [("client", "1", "-6.0"), ("client", "2", ""), ("clinician", "1", "")]


def test_a_measure_without_published_reliability_uses_cronbachs_alpha_from_the_data(
    tmp_path: Path,
) -> None:
    import numpy as np

    rng = np.random.default_rng(2)
    header = ["client", "session", "measure", *[f"item{k}" for k in range(1, 8)]]
    rows: list[list[object]] = []
    for c in range(20):
        level = rng.uniform(1, 3.5)
        for s in (1, 2):
            items = np.clip(np.rint(level + rng.normal(0, 0.5, 7)), 0, 4).astype(int)
            rows.append([f"c{c}", s, "ally-alliance", *items])
    path = write_csv(tmp_path / "alliance.csv", header, rows)
    result = run(path, "--out", tmp_path / "out", "--min-episodes", "20")
    assert result.exit_code == 0, result.output
    assert "ally-alliance: no published reliability; Cronbach's alpha 0." in result.output
    assert "from 40 complete client-rated administrations" in result.output
    episodes = read_csv(tmp_path / "out" / "episodes.csv")
    assert all(e["rci"] for e in episodes)


def test_output_columns_follow_the_documented_contract(tmp_path: Path) -> None:
    from ally.engine.columns import EPISODE_COLUMNS, SESSION_COLUMNS

    header = ["client", "session", "measure", *[f"item{k}" for k in range(1, 8)]]
    path = write_csv(tmp_path / "a.csv", header, [["a", 1, "ally-alliance", 4, 4, 4, 4, 4, 4, 4]])
    assert run(path, "--out", tmp_path / "out").exit_code == 0
    with (tmp_path / "out" / "sessions.csv").open() as f:
        sessions = f.readline().strip().split(",")
    subscales = ["subscale_bond", "subscale_goals", "subscale_overall", "subscale_tasks"]
    at = SESSION_COLUMNS.index("score") + 1
    assert sessions == [*SESSION_COLUMNS[:at], *subscales, *SESSION_COLUMNS[at:]]
    with (tmp_path / "out" / "episodes.csv").open() as f:
        assert tuple(f.readline().strip().split(",")) == EPISODE_COLUMNS


def test_intake_scores_without_spread_fall_back_to_the_published_reliable_change(
    tmp_path: Path,
) -> None:
    # Every client starts at 12: the sample SD is 0, so no index can be estimated from it.
    rows = [[f"c{k}", s, "phq9", v] for k in range(40) for s, v in ((1, 12), (2, 12 - k % 9))]
    path = write_csv(tmp_path / "flat.csv", ["client", "session", "measure", "score"], rows)
    # A reliability given asks for the sample's own index, which this sample cannot give.
    result = run(path, "--out", tmp_path / "out", "--reliability", "0.89")
    assert result.exit_code == 0, result.output
    assert "no spread" in result.output
    assert "published 6 points" in result.output
    episodes = {r["client"]: r for r in read_csv(tmp_path / "out" / "episodes.csv")}
    assert episodes["c6"]["reliable_change"] == "improved"  # 12 -> 6
    assert episodes["c5"]["reliable_change"] == "unchanged"  # 12 -> 7


def test_paired_phq9_and_gad7_get_the_nhs_talking_therapies_outcome(tmp_path: Path) -> None:
    # SPECS 2 worked example: PHQ-9 16 -> 9 with GAD-7 9 -> 6 is a case at the start, a fall of
    # 7 (>= 6) with no reliable rise on the GAD-7, both below caseness at the end: reliable
    # recovery. Client b starts below caseness on both and barely changes.
    rows = [
        ["a", 1, "phq9", 16], ["a", 2, "phq9", 9], ["a", 1, "gad7", 9], ["a", 2, "gad7", 6],
        ["b", 1, "phq9", 5], ["b", 2, "phq9", 4], ["b", 1, "gad7", 3], ["b", 2, "gad7", 3],
        ["c", 1, "phq9", 12], ["c", 2, "phq9", 11],
    ]  # fmt: skip
    path = write_csv(tmp_path / "tt.csv", ["client", "session", "measure", "score"], rows)
    assert run(path, "--out", tmp_path / "out").exit_code == 0
    found = {
        (r["client"], r["measure"]): r["talking_therapies"]
        for r in read_csv(tmp_path / "out" / "episodes.csv")
    }
    assert found[("a", "phq9")] == found[("a", "gad7")] == "reliable recovery"
    assert found[("b", "phq9")] == "not a case at start"
    assert found[("c", "phq9")] == ""  # no GAD-7 to pair with


# --- Sudden gains (Tang & DeRubeis 1999; suddengains, Wiedemann et al. 2020) ------------------


def sgdata_long(shared_data: Path, path: Path, first: int = 1) -> Path:
    """sgdata's BDI, one row per person and session, its bdi_s<first> as session 1 and `NA`s left
    out: missing sessions stay missing, as suddengains sees them."""
    rows: list[list[object]] = []
    with (shared_data / "sgdata.csv").open(newline="") as f:
        for person in csv.DictReader(f):
            for k in range(first, 13):
                value = person[f"bdi_s{k}"]
                if value != "NA":
                    rows.append([person["id"], k - first + 1, "bdi", value])
    return write_csv(path, ["client", "session", "measure", "score"], rows)


def test_a_sudden_gain_cutoff_of_7_finds_suddengains_24_gains_in_15_of_43_people(
    shared_data: Path, tmp_path: Path
) -> None:
    # suddengains tutorial vignette: sgdata bdi_s1..bdi_s12, sg_crit1_cutoff = 7, 25%, criterion
    # 3 at alpha .05: 24 gains, 15 of the 43 people with one.
    summary = analyze(
        Options(
            input=sgdata_long(shared_data, tmp_path / "sg.csv"),
            out=tmp_path / "out",
            reliability=0.931,
            direction=Direction.LOWER_IS_BETTER,
            sudden_gain_cutoffs={"bdi": 7.0},
            progress=False,
        )
    )
    (bdi,) = summary.measures
    assert (bdi.sudden_gains, bdi.episodes_with_gains, bdi.episodes) == (24, 15, 43)
    assert (bdi.sudden_gain_cutoff, bdi.sudden_gain_source) == (7.0, "as given")
    episodes = read_csv(tmp_path / "out" / "episodes.csv")
    assert sum(int(r["sudden_gains"]) for r in episodes) == 24
    assert sum(int(r["sudden_losses"]) for r in episodes) == bdi.sudden_losses
    assert sum(int(r["sudden_losses"]) > 0 for r in episodes) == bdi.episodes_with_losses
    assert "sudden gains: 24 in 15 of 43 episodes" in " ".join(bdi.notes)


def test_sudden_gain_z_196_gives_suddengains_define_crit1_cutoff_for_sgdata(
    shared_data: Path, tmp_path: Path
) -> None:
    # suddengains tests: define_crit1_cutoff(data_sd = sgdata$bdi_s0, reliability = 0.931)
    # gives a reliable change value of 4.65703 (z 1.96; SPECS 1.3). bdi_s0 is session 1 here
    # and --pre 1 takes it as the pre score, so the SD is that of the 41 people who have it.
    options = Options(
        input=sgdata_long(shared_data, tmp_path / "sg.csv", first=0),
        out=tmp_path,
        reliability=0.931,
        direction=Direction.LOWER_IS_BETTER,
        pre=1,
        sudden_gain_z=1.96,
        progress=False,
    )
    model, _ = fit(options, fitted_at="2026-01-01T00:00:00")
    client = model.measures["bdi"].change("client")
    assert client is not None
    assert client.sudden_gain is not None
    assert client.sudden_gain.cutoff == pytest.approx(4.65703, abs=5e-6)
    assert "SD 6.40" in client.sudden_gain.source
    assert "SD of 41 of the practice's first scores" in client.sudden_gain.source


def test_the_summary_says_when_sudden_gains_were_not_looked_for(tmp_path: Path) -> None:
    # A measure Ally does not know, with too few episodes for its own reliable change: no
    # criterion 1, unless one is given.
    rows = [["a", s, "bdi", v] for s, v in enumerate([30, 30, 30, 20, 20, 20], start=1)]
    path = write_csv(tmp_path / "few.csv", ["client", "session", "measure", "score"], rows)
    common = ("--reliability", "0.9", "--lower-is-better")
    result = run(path, *common, "--out", tmp_path / "a")
    assert result.exit_code == 0, result.output
    assert "sudden gains and losses: not looked for" in result.output
    result = run(path, *common, "--sudden-gain-cutoff", "bdi=7", "--out", tmp_path / "b")
    assert result.exit_code == 0, result.output
    assert "sudden gains: 1 in 1 of 1 episodes, sudden losses: 0 in 0 episodes" in result.output
    assert "a change of 7.00 points or more between sessions, as given" in result.output
