"""`ally analyze` with a group column: the groups table and group-mean centring."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from ally.cli.main import cli
from ally.feedback.alliance import ruptures_in_series
from ally.groups.agreement import one_way

# Two groups meeting weekly; d joins g1 at its second meeting (their own session 1).
ROWS = """client,group,session,date,measure,item1,item2,item3,item4,item5,item6,item7
a,g1,1,2026-01-05,ally-group,8,8,7,7,8,8,0
b,g1,1,2026-01-05,ally-group,6,6,5,5,6,6,0
c,g1,1,2026-01-05,ally-group,7,7,7,7,7,7,1
a,g1,2,2026-01-12,ally-group,8,8,8,8,8,8,0
b,g1,2,2026-01-12,ally-group,6,6,6,6,6,6,0
d,g1,1,2026-01-12,ally-group,5,5,5,5,5,5,0
e,g2,1,2026-01-06,ally-group,3,3,3,3,3,3,0
f,g2,1,2026-01-06,ally-group,4,4,4,4,4,4,0
e,g2,2,2026-01-13,ally-group,2,2,2,2,2,2,0
f,g2,2,2026-01-13,ally-group,4,4,3,3,4,4,0
"""


@pytest.fixture
def out(tmp_path: Path) -> Path:
    given = tmp_path / "groups.csv"
    given.write_text(ROWS, encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["analyze", str(given), "--out", str(tmp_path / "out"), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    return tmp_path / "out"


def _read(path: Path) -> pd.DataFrame:
    with path.open(newline="", encoding="utf-8") as handle:
        return pd.DataFrame(list(csv.DictReader(handle)))


def test_a_groups_meetings_are_its_dates_whatever_each_members_own_session(out: Path) -> None:
    sessions = _read(out / "sessions.csv")
    d = sessions[sessions["client"] == "d"].iloc[0]
    assert (d["session"], d["group_session"]) == ("1", "2")
    # At g1's second meeting a, b and d were rated: totals 8, 6 and 5.
    assert float(d["group_mean"]) == pytest.approx(19 / 3)
    assert float(d["group_deviation"]) == pytest.approx(5 - 19 / 3)


def test_the_groups_table_gives_n_mean_sd_and_the_iccs_of_each_level(out: Path) -> None:
    groups = _read(out / "groups.csv")
    assert list(groups.columns) == [
        "group", "group_session", "date", "measure", "rater", "level", "n", "mean", "sd",
        "icc1", "icc2", "ruptures",
    ]  # fmt: skip
    first = groups[(groups["group"] == "g1") & (groups["group_session"] == "1")]
    members = first[first["level"] == "members"].iloc[0]
    assert (members["n"], float(members["mean"])) == ("3", pytest.approx(19 / 3))
    assert float(members["sd"]) == pytest.approx(np.std([7, 5, 7], ddof=1))
    assert set(groups["level"]) == {"total", "leader", "members", "group", "bond", "work", "harder"}
    # ICC over the run: the members' mean totals by group (an independent pandas computation).
    given = pd.read_csv(pd.io.common.StringIO(ROWS))
    given["total"] = given[[f"item{k}" for k in range(1, 7)]].mean(axis=1)
    member = given.groupby(["group", "client"])["total"].mean()
    expected = one_way(member.to_numpy(), member.index.get_level_values(0).to_numpy())
    total = groups[groups["level"] == "total"].iloc[0]
    assert float(total["icc1"]) == pytest.approx(expected.icc1)
    assert float(total["icc2"]) == pytest.approx(expected.icc2)


def test_without_a_group_there_is_no_groups_table(tmp_path: Path) -> None:
    given = tmp_path / "plain.csv"
    given.write_text(ROWS.replace(",g1,", ",,").replace(",g2,", ",,"), encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["analyze", str(given), "--out", str(tmp_path / "out"), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "out" / "groups.csv").exists()
    # The same columns as with groups, empty: an episode's rows read the same in any batch.
    assert (_read(tmp_path / "out" / "sessions.csv")["group_mean"] == "").all()


def test_a_check_ins_ruptures_are_found_level_by_level_with_the_individual_rule(out: Path) -> None:
    sessions = _read(out / "sessions.csv")
    checkins = sessions.set_index(["client", "session"])
    # e: 3 -> 2 at every level, a drop of a third; f: other members 4 -> 3, a quarter
    # (Strauss et al. 2006: a drop of 15% from the previous rated session).
    assert checkins.loc[("e", "2"), "rupture"] == "true"
    assert checkins.loc[("e", "2"), "rupture_subscale"] == "leader;members;group"
    assert checkins.loc[("f", "2"), "rupture_subscale"] == "members"
    assert checkins.loc[("a", "2"), "rupture"] == "false"
    assert ruptures_in_series([4, 3]).ruptures == (1,)  # the same rule function, one series
    groups = _read(out / "groups.csv").set_index(["group", "group_session", "level"])
    assert groups.loc[("g2", "2", "members"), "ruptures"] == "2"
    assert groups.loc[("g2", "2", "leader"), "ruptures"] == "1"
    assert groups.loc[("g1", "2", "members"), "ruptures"] == "0"
    assert groups.loc[("g1", "2", "total"), "ruptures"] == ""


def test_a_groups_numbers_are_the_same_found_alone_as_beside_every_other_group(
    tmp_path: Path,
) -> None:
    # Spark finds each group's meetings on an executor of its own, from its rows in any order;
    # the DuckDB engine finds all groups' at once. pandas' grouped means differed in their last
    # digits between the two; exactly rounded sums do not.
    from ally.engine.groups import groups_table, meetings, named
    from ally.simulate import SimulationConfig, simulate

    config = SimulationConfig(episodes=120, seed=3, group_share=0.3, group_checkin=True)
    simulate(config, tmp_path / "demo", "csv")
    result = CliRunner().invoke(
        cli,
        [
            *("analyze", str(tmp_path / "demo" / "sessions.csv"), "--out", str(tmp_path / "out")),
            *("--format", "parquet", "--no-progress"),
        ],
    )
    assert result.exit_code == 0, result.output
    sessions = pq.read_table(tmp_path / "out" / "sessions.parquet")
    sessions = sessions.filter(named(sessions.column("group")))
    columns = ["client", "episode", "group", "session", "date", "measure", "rater", "score"]
    columns += [c for c in sessions.column_names if c.startswith("subscale_")]
    frame = sessions.select(columns).to_pandas()
    check_ins = frozenset({"ally-group"})
    whole = meetings(frame, check_ins)
    # Each group alone, as an executor of Spark's gets it (its rows in any order) and sorts it.
    order = ["client", "episode", "measure", "rater", "session"]
    alone = [
        meetings(rows.sample(frac=1, random_state=1).sort_values(order), check_ins)
        for _, rows in frame.groupby("group")
    ]
    assert len(alone) > 3
    one_at_a_time = groups_table(
        pd.concat([a.stats for a in alone]), pd.concat([a.members for a in alone])
    )
    assert one_at_a_time.equals(groups_table(whole.stats, whole.members))
    parts = pd.concat([a.rows for a in alone]).sort_index()
    assert parts.equals(whole.rows)
    # And the groups table `ally analyze` wrote is this one.
    written = pq.read_table(tmp_path / "out" / "groups.parquet")
    assert written.equals(one_at_a_time)


def test_sessions_with_groups_are_written_a_slice_at_a_time_with_the_same_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ally.engine import administrations

    given = tmp_path / "groups.csv"
    given.write_text(ROWS, encoding="utf-8")

    def run(name: str) -> tuple[pa.Table, pa.Table]:
        result = CliRunner().invoke(
            cli,
            ["analyze", str(given), "--out", str(tmp_path / name), "--format", "parquet"],
        )
        assert result.exit_code == 0, result.output
        found = tmp_path / name
        return pq.read_table(found / "sessions.parquet"), pq.read_table(found / "groups.parquet")

    whole = run("whole")
    # Slices of about two rows: a group's members are in several.
    monkeypatch.setattr(administrations.episode_slices, "__defaults__", (2,))
    sliced = run("sliced")
    assert pq.ParquetFile(tmp_path / "sliced" / "sessions.parquet").num_row_groups > 3
    assert sliced[0].equals(whole[0])
    assert sliced[1].equals(whole[1])
    d = sliced[0].filter(pc.equal(sliced[0].column("client"), "d"))
    assert d.column("group_mean").to_pylist() == [pytest.approx(19 / 3)]


def test_without_dates_a_groups_meetings_are_its_session_numbers(tmp_path: Path) -> None:
    given = tmp_path / "groups.csv"
    lines = [",".join(r.split(",")[:3] + r.split(",")[4:]) for r in ROWS.splitlines()]
    given.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["analyze", str(given), "--out", str(tmp_path / "out"), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    sessions = _read(tmp_path / "out" / "sessions.csv")
    d = sessions.set_index("client").loc["d"]
    # d's own session 1 is now g1's first meeting, with a's, b's and c's first sessions.
    assert (d["session"], d["group_session"]) == ("1", "1")
    first = sessions[(sessions["group"] == "g1") & (sessions["session"] == "1")]
    assert sorted(first["client"]) == ["a", "b", "c", "d"]
    assert float(d["group_mean"]) == pytest.approx(first["score"].astype(float).mean())
    groups = _read(tmp_path / "out" / "groups.csv")
    assert set(groups["group_session"]) == {"1", "2"}
    assert (groups["date"] == "").all()


def test_a_meeting_is_a_date_or_where_a_row_has_none_its_session_dated_ones_first() -> None:
    from ally.engine.groups import meetings

    rows = [  # (date, session): 1 January, 8 January, then session 1 and session 3 undated
        ("2024-01-08", 2),
        ("2024-01-01", 1),
        (None, 3),
        (None, 1),
        ("2024-01-01", 5),
    ]
    frame = pd.DataFrame(
        {
            "client": ["a", "b", "c", "d", "e"],
            "episode": ["a", "b", "c", "d", "e"],
            "group": "g1",
            "date": pd.to_datetime([d for d, _ in rows]),
            "session": [s for _, s in rows],
            "measure": "ally-group",
            "rater": "client",
            "score": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    found = meetings(frame, frozenset())
    assert found.rows["group_session"].tolist() == [2, 1, 4, 3, 1]
    assert found.rows["group_mean"].tolist() == [1.0, 3.5, 3.0, 4.0, 3.5]


def test_a_member_who_moves_to_another_group_starts_a_series_there() -> None:
    # Meetings are numbered within each group, so a's second meeting in g2 is not a's second
    # meeting in g1: a's leader ratings 6, 6, 6 in g1 then 6, 1, 6 in g2 rupture in g2 only,
    # found alone or beside the other group.
    from ally.engine.groups import meetings

    rows = [("a", "g1", d, s, v) for d, s, v in ((1, 1, 6), (8, 2, 6), (15, 3, 6))]
    rows += [("a", "g2", d, s, v) for d, s, v in ((2, 4, 6), (9, 5, 1), (16, 6, 6))]
    rows += [("b", "g1", d, s, 5) for d, s in ((1, 1), (8, 2), (15, 3))]
    rows += [("c", "g2", d, s, 5) for d, s in ((2, 1), (9, 2), (16, 3))]
    frame = pd.DataFrame(
        {
            "client": [r[0] for r in rows],
            "episode": [r[0] for r in rows],
            "group": [r[1] for r in rows],
            "date": pd.to_datetime([f"2026-01-{r[2]:02d}" for r in rows]),
            "session": [r[3] for r in rows],
            "measure": "ally-group",
            "rater": "client",
            "score": [float(r[4]) for r in rows],
            **{f"subscale_{lv}": [float(r[4]) for r in rows] for lv in ("leader", "members")},
        }
    )
    check_ins = frozenset({"ally-group"})
    whole = meetings(frame, check_ins).rows
    assert whole["group_rupture"].tolist()[:6] == [False, False, False, False, True, False]
    for _, alone in frame.groupby("group"):
        found = meetings(alone, check_ins).rows
        assert found.equals(whole.loc[alone.index])
