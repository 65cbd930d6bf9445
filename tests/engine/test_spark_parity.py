"""`ally analyze --engine spark` on local Spark gives the DuckDB engine's outputs, value for value.

Spark writes each output as a folder of part files in order; they are read back in order and
compared cell by cell with DuckDB's file: text as it is, numbers as numbers (Java and DuckDB
may print the same double with different digits). One local Spark session (`local[2]`) serves
the module; it skips without PySpark or Java.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from ally.cli.main import cli
from ally.simulate import SimulationConfig, simulate

pytest.importorskip("pyspark")
MASTER = "local[2]"


@pytest.fixture(scope="module", autouse=True)
def spark() -> object:
    if shutil.which("java") is None:
        pytest.skip("local Spark needs Java 17 or later")
    from ally.engine.spark import session

    return session(MASTER)


def ally(*args: str | Path) -> str:
    result = CliRunner().invoke(cli, [*map(str, args), "--no-progress"])
    assert result.exit_code == 0, result.output
    return result.output


def both(
    command: str,
    data: Path,
    tmp: Path,
    *args: str,
    on_spark: Callable[[], AbstractContextManager[object]] = nullcontext,
) -> tuple[Path, Path, str, str]:
    """The outputs and summaries of DuckDB and of Spark on the same input and options;
    `on_spark` is entered for Spark's run only."""
    duck, spark = tmp / "duckdb", tmp / "spark"
    said_duck = ally(command, data, "--out", duck, *args)
    with on_spark():
        said_spark = ally(
            command, data, "--out", spark, "--engine", "spark", "--spark-master", MASTER, *args
        )
    return duck, spark, said_duck.replace(str(duck), "OUT"), said_spark.replace(str(spark), "OUT")


def fitted(data: Path, model: Path, *args: str) -> dict[str, Any]:
    """The model `ally fit` saves for `data`, without the time it was fitted."""
    ally("fit", data, "--out", model, *args)
    found: dict[str, Any] = json.loads(model.read_text())
    found["training"]["fitted_at"] = None
    return found


def rows(path: Path) -> list[dict[str, str]]:
    """A CSV or Parquet output as text rows: DuckDB's file, or Spark's folder of parts in order."""
    parts = sorted(path.glob("part-*")) if path.is_dir() else [path]
    out: list[dict[str, str]] = []
    for part in parts:
        if part.suffix == ".parquet":
            for row in pq.read_table(part).to_pylist():
                out.append({k: "" if v is None else str(v) for k, v in row.items()})
            continue
        with part.open(newline="", encoding="utf-8") as f:
            out.extend(csv.DictReader(f))
    return out


def same_value(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return x == y or (math.isnan(x) and math.isnan(y))


def assert_same(duck: Path, spark: Path) -> int:
    """Every row and column of an output alike in both engines; the number of rows."""
    expected, found = rows(duck), rows(spark)
    assert len(found) == len(expected), duck.name
    for line, (e, f) in enumerate(zip(expected, found, strict=True), start=2):
        assert list(f) == list(e), duck.name
        unlike = {k: (e[k], f[k]) for k in e if not same_value(e[k], f[k])}
        assert not unlike, f"{duck.name} row {line}: {unlike}"
    return len(expected)


def test_spark_settings_reach_the_session() -> None:
    from ally.engine.spark import session

    found = session(MASTER, [("spark.sql.shuffle.partitions", "3")])
    try:
        assert found.conf.get("spark.sql.shuffle.partitions") == "3"
    finally:
        found.conf.set("spark.sql.shuffle.partitions", "4")


def test_bad_rows_are_rejected_on_spark_with_the_lines_and_reasons_duckdb_gives(
    tmp_path: Path,
) -> None:
    header = ["client", "session", "measure", *(f"item{k}" for k in range(1, 10)), "ending"]
    good = [1, 1, 2, 2, 1, 1, 1, 0, 0]
    lines = [
        ",".join(header),
        ",".join(["a", "1", "phq9", *map(str, good), ""]),
        "",  # a blank line: counted, not a row
        ",".join(["a", "2", "phq9 ", *map(str, good), "planned"]),
        ",".join(["b", "1", "phq9", *map(str, good), "NA"]),
        "b,1,phq9,1",  # too few fields
        ",".join(["b", "2", "phq9", *map(str, good), "dropout", "x"]),  # too many
        '"c"x,1,phq9,1,1,1,1,1,1,1,1,1,',  # text after a closing quote
        ",".join(["c", "x", "phq9", *map(str, good), ""]),  # not a session number
        ",".join(["c", "2", "phq9", "9", *map(str, good[1:]), ""]),  # an answer out of range
        ",".join(["c", "3", "phq9", *map(str, good), "maybe"]),  # not an ending
        ",".join(["c", "3", "phq9", *map(str, good), ""]),  # a duplicate
        ",".join(["d", "1", "gad7", "1", "1", "2", "", "", "", "", "", "", ""]),  # too few answers
        ",".join(["", "1", "phq9", *map(str, good), ""]),  # no client
        ",".join(["e", "1", "phq9", *map(str, good[:8]), "1.5", ""]),  # not a whole answer
        ",".join(["e", "2", "phq9", *map(str, good), ""]),
        '"f,1,phq9,1,1,1,1,1,1,1,1,1,',  # a quote not closed (DuckDB reads on to the end)
    ]
    data = tmp_path / "bad.csv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    duck, spark, said_duck, said_spark = both("analyze", data, tmp_path, "--no-feedback")
    assert said_spark == said_duck
    assert assert_same(duck / "rejected.csv", spark / "rejected.csv") >= 8
    assert_same(duck / "sessions.csv", spark / "sessions.csv")
    assert_same(duck / "episodes.csv", spark / "episodes.csv")


def test_the_demo_practice_analysed_on_spark_equals_duckdb_feedback_groups_and_goals_included(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The demo practice of `ally serve` (ally.web.demo.load_demo: its shares of ongoing and
    # group episodes, group check-ins), with the seed of tests/web/test_demo.py. In partitions
    # of about 300 rows, so that a group's members are in several: its meetings are found on
    # an executor of their own, and only the meetings' numbers reach the driver.
    from ally.engine import administrations
    from ally.engine import spark as engine

    monkeypatch.setattr(engine, "PARTITION_ROWS", 300)
    # On Spark no row is made into the core's columns on the driver (the executors import the
    # modules afresh); the outputs' columns are found there from a partition without rows.
    on_executors = engine.sorted_rows

    def on_the_driver(table: pa.Table, *args: Any, **kwargs: Any) -> object:
        assert table.num_rows == 0, "rows were collected on the driver"
        return on_executors(table, *args, **kwargs)

    @contextmanager
    def guarded() -> Iterator[None]:
        with monkeypatch.context() as driver:
            driver.setattr(engine, "sorted_rows", on_the_driver)
            driver.setattr(administrations, "sorted_rows", on_the_driver)  # its `pull`
            yield

    config = SimulationConfig(
        episodes=40, seed=3, ongoing_share=0.4, group_share=0.3, group_checkin=True
    )
    simulate(config, tmp_path / "demo", "csv")
    data = tmp_path / "demo" / "sessions.csv"
    duck, spark, said_duck, said_spark = both("analyze", data, tmp_path, on_spark=guarded)
    assert said_spark == said_duck
    assert assert_same(duck / "sessions.csv", spark / "sessions.csv") > 1000
    assert assert_same(duck / "episodes.csv", spark / "episodes.csv") > 80
    assert assert_same(duck / "groups.csv", spark / "groups.csv") > 0
    assert_same(duck / "rejected.csv", spark / "rejected.csv")


def test_parquet_in_and_out_and_the_fitted_model_are_the_same_on_spark(tmp_path: Path) -> None:
    config = SimulationConfig(episodes=60, seed=5)
    simulate(config, tmp_path / "sim", "parquet")
    data = tmp_path / "sim" / "sessions.parquet"
    duck, spark, said_duck, said_spark = both("analyze", data, tmp_path, "--format", "parquet")
    assert said_spark == said_duck
    assert assert_same(duck / "sessions.parquet", spark / "sessions.parquet") > 500
    assert_same(duck / "episodes.parquet", spark / "episodes.parquet")
    models = [fitted(data, tmp_path / f"{e}.json", "--engine", e) for e in ("duckdb", "spark")]
    assert models[1] == models[0]
    # `ally fit` also reads an analysis folder of either engine: Spark's outputs are folders.
    from_folders = [fitted(f, tmp_path / f"{f.name}-analysis.json") for f in (duck, spark)]
    assert from_folders[1] == from_folders[0]
    assert from_folders[0]["training"]["episodes"] == models[0]["training"]["episodes"]


def test_sessions_ordered_by_dates_in_a_given_format_are_the_same_on_spark(
    tmp_path: Path,
) -> None:
    data = tmp_path / "dates.csv"
    data.write_text(
        "client,date,measure,score\n"
        "a,03.02.2026,phq9,20\na,10.02.2026,phq9,14\na,17.02.2026,phq9,7\n"
        "b,2026-02-03,phq9,12\n"  # not the given format: rejected
        "b,05.02.2026,phq9,12\nb,05.02.2026,phq9,11\n"  # the same day twice: a duplicate
        "c,31.02.2026,phq9,9\n",  # no such day
        encoding="utf-8",
    )
    duck, spark, said_duck, said_spark = both(
        "analyze", data, tmp_path, "--date-format", "%d.%m.%Y", "--no-feedback"
    )
    assert said_spark == said_duck
    assert assert_same(duck / "rejected.csv", spark / "rejected.csv") == 3
    assert assert_same(duck / "sessions.csv", spark / "sessions.csv") == 4
    assert_same(duck / "episodes.csv", spark / "episodes.csv")


def practice_without_groups(tmp_path: Path) -> Path:
    """A simulated practice without groups, with goal-progress rows and a duplicate far from its
    first row."""
    simulate(SimulationConfig(episodes=80, seed=7, group_share=0.0), tmp_path / "sim", "csv")
    data = tmp_path / "sim" / "sessions.csv"
    with data.open(newline="", encoding="utf-8") as f:
        header, *body = list(csv.reader(f))
    columns = ["client", "episode", "clinician", "group", "session", "date", "measure", "rater"]
    assert header[:8] == columns
    goals = [  # goal-progress rows: the goals' ratings in item1..item3
        ["c02", "e01", "t1", "", "1", "2025-01-06", "goal-progress", "client", "2", "5", ""],
        ["c02", "e01", "t1", "", "3", "2025-01-20", "goal-progress", "client", "6", "4", "1"],
        ["c40", "e01", "t2", "", "2", "2025-03-03", "goal-progress", "client", "3", "3", "3"],
    ]
    with data.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *body, *(g + [""] * (len(header) - 11) for g in goals)])
        csv.writer(f).writerow(body[4])
    return data


def test_the_executors_apply_the_model_to_partitions_of_whole_episodes_as_duckdb_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The rows are sorted into partitions of about 150 rows, about ten here, whose episodes are
    # numbered across partitions for the fit and applied where they are.
    from ally.engine import spark as engine

    monkeypatch.setattr(engine, "PARTITION_ROWS", 150)
    data = practice_without_groups(tmp_path)
    duck, spark, said_duck, said_spark = both("analyze", data, tmp_path)
    assert said_spark == said_duck
    assert assert_same(duck / "sessions.csv", spark / "sessions.csv") > 1000
    assert assert_same(duck / "episodes.csv", spark / "episodes.csv") > 150
    assert assert_same(duck / "rejected.csv", spark / "rejected.csv") >= 1
    episodes = rows(spark / "episodes.csv")
    (rated,) = (e for e in episodes if e["measure"] == "goal-progress" and e["client"] == "c02")
    assert (rated["goal1_first"], rated["goal1_last"], rated["goal1_progress"]) == (
        "2.0",
        "6.0",
        "progress",
    )
    assert len(list((spark / "sessions.csv").glob("part-*.csv"))) > 5
    models = [fitted(data, tmp_path / f"{e}.json", "--engine", e) for e in ("duckdb", "spark")]
    assert models[1] == models[0]


def test_with_a_saved_model_no_row_reaches_the_driver_and_spark_equals_duckdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ally.engine import spark as engine

    data = practice_without_groups(tmp_path)
    model = tmp_path / "model.json"
    ally("fit", data, "--out", model)
    collected: list[int] = []
    numbers = engine._administrations

    def counted(core: pa.Table, *args: object) -> object:
        collected.append(core.num_rows)
        return numbers(core, *args)

    monkeypatch.setattr(engine, "PARTITION_ROWS", 150)
    monkeypatch.setattr(engine, "_administrations", counted)
    duck, spark, said_duck, said_spark = both("analyze", data, tmp_path, "--model", str(model))
    assert said_spark == said_duck
    assert "nothing was estimated from this input" in said_spark
    assert collected == [0]
    assert assert_same(duck / "sessions.csv", spark / "sessions.csv") > 1000
    assert assert_same(duck / "episodes.csv", spark / "episodes.csv") > 150
    assert assert_same(duck / "rejected.csv", spark / "rejected.csv") == 1
