"""Choosing the engine: what `--engine spark` says without PySpark, and how it reads dates."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import ibis
import pytest
from click.testing import CliRunner

from ally.cli.main import cli
from ally.engine import backends
from ally.engine.backends import DuckDB, setting_bytes
from ally.engine.errors import AnalysisError
from ally.engine.options import Options
from ally.engine.spark import driver_memory, java_pattern, out_of_memory, session, uri


def test_without_pyspark_the_spark_engine_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(AnalysisError, match=r"pip install 'ally\[spark\]'"):
        session("local[1]")


def test_the_cli_says_the_same_and_no_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    data = tmp_path / "x.csv"
    data.write_text("client,session,measure,score\na,1,phq9,3\n")
    result = CliRunner().invoke(
        cli, ["analyze", str(data), "--out", str(tmp_path / "out"), "--engine", "spark"]
    )
    assert result.exit_code == 1
    assert "--engine spark needs PySpark and Java 17" in result.output
    assert "Traceback" not in result.output


def test_spark_master_without_the_spark_engine_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["analyze", str(tmp_path / "x.csv"), "--out", str(tmp_path), "--spark-master", "local"],
    )
    assert result.exit_code == 2
    assert "--spark-master is for --engine spark" in result.output


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (["--spark-conf", "spark.driver.memory=8g"], "--spark-conf is for --engine spark"),
        (["--engine", "spark", "--spark-conf", "spark.driver.memory"], "give KEY=VALUE"),
        (["--engine", "spark", "--spark-conf", "=8g"], "give KEY=VALUE"),
    ],
)
def test_a_spark_setting_needs_the_spark_engine_and_a_key_and_value(
    tmp_path: Path, given: list[str], said: str
) -> None:
    data = tmp_path / "x.csv"
    data.write_text("client,session,measure,score\na,1,phq9,3\n")
    result = CliRunner().invoke(cli, ["analyze", str(data), "--out", str(tmp_path / "o"), *given])
    assert result.exit_code == 2
    assert said in result.output


def java_error(text: str) -> Exception:
    """An error as PySpark raises it: py4j's error behind the call that failed."""
    try:
        try:
            raise RuntimeError(text)
        except RuntimeError as inner:
            raise RuntimeError("An error occurred while calling o279.getResult.") from inner
    except RuntimeError as outer:
        return outer


def test_sparks_out_of_memory_error_says_how_to_give_spark_more_memory() -> None:
    found = out_of_memory(
        java_error(
            "org.apache.spark.SparkException: Job aborted due to stage failure: "
            "java.lang.OutOfMemoryError: Java heap space"
        )
    )
    assert found is not None
    assert "--spark-conf spark.driver.memory=16g" in str(found)
    assert out_of_memory(java_error("org.apache.spark.SparkException: file not found")) is None


GB = 2**30


def test_a_jvm_ally_starts_gets_half_the_machines_memory_for_its_driver() -> None:
    assert driver_memory([], {}, False, 24 * GB) == "12g"
    assert driver_memory([], {}, False, int(23.5 * GB)) == "11g"
    assert driver_memory([], {}, False, GB) == "1g"  # never below Spark's default


@pytest.mark.parametrize(
    ("settings", "environ", "running", "machine"),
    [
        ([("spark.driver.memory", "4g")], {}, False, 24 * GB),  # given with --spark-conf
        ([], {"PYSPARK_SUBMIT_ARGS": "--driver-memory 4g pyspark-shell"}, False, 24 * GB),
        ([], {"PYSPARK_SUBMIT_ARGS": "--conf spark.driver.memory=4g pyspark-shell"}, False, GB),
        ([], {"PYSPARK_GATEWAY_PORT": "41234"}, False, 24 * GB),  # under spark-submit
        ([], {}, True, 24 * GB),  # a session already running in this process
        ([], {}, False, None),  # the machine's memory unknown
    ],
)
def test_ally_leaves_the_drivers_memory_to_whoever_set_it_or_started_the_jvm(
    settings: list[tuple[str, str]], environ: dict[str, str], running: bool, machine: int | None
) -> None:
    assert driver_memory(settings, environ, running, machine) is None


def test_a_py4j_error_whose_jvm_is_gone_is_said_as_spark_stopping() -> None:
    class Py4JJavaError(Exception):
        errmsg = "An error occurred while calling o276.getResult.\n"

        def __str__(self) -> str:  # py4j asks the JVM, which has stopped
            raise ConnectionRefusedError("the JVM is gone")

    class Py4JNetworkError(Exception):
        pass

    try:
        try:
            raise Py4JNetworkError("Answer from Java side is empty")
        except Py4JNetworkError as gone:
            raise Py4JJavaError() from gone
    except Py4JJavaError as error:
        found = out_of_memory(error)
    assert found is not None
    assert "Spark stopped during the run" in str(found)


def test_settings_ally_relies_on_cannot_be_changed(tmp_path: Path) -> None:
    data = tmp_path / "x.csv"
    data.write_text("client,session,measure,score\na,1,phq9,3\n")
    result = CliRunner().invoke(
        cli,
        [
            "analyze",
            str(data),
            "--out",
            str(tmp_path / "o"),
            "--engine",
            "spark",
            "--spark-conf",
            "spark.sql.session.timeZone=Europe/Berlin",
        ],
    )
    assert result.exit_code == 1
    assert "Ally sets it to UTC" in result.output
    assert "Traceback" not in result.output


def test_spark_defaults_and_the_environment_keep_their_driver_memory(tmp_path: Path) -> None:
    (tmp_path / "spark-defaults.conf").write_text("spark.driver.memory   6g\n")
    assert driver_memory([], {"SPARK_CONF_DIR": str(tmp_path)}, False, 24 * GB) is None
    assert driver_memory([], {"SPARK_DRIVER_MEMORY": "6g"}, False, 24 * GB) is None
    (tmp_path / "spark-defaults.conf").write_text("spark.executor.memory 6g\n")
    assert driver_memory([], {"SPARK_CONF_DIR": str(tmp_path)}, False, 24 * GB) == "12g"


def test_a_spark_context_shut_down_mid_run_is_said_with_the_likeliest_cause() -> None:
    # What the Python side sees when local Spark's JVM ran out of heap collecting 10 M rows.
    found = out_of_memory(
        java_error(
            "org.apache.spark.SparkException: Exception thrown in awaitResult: \nCaused by: "
            "org.apache.spark.SparkException: Job 28 cancelled because SparkContext was shut down"
        )
    )
    assert found is not None
    assert "most often because its memory ran out" in str(found)
    assert "--spark-conf spark.driver.memory=16g" in str(found)


@pytest.mark.parametrize("limit", ["300MB", "4GB", None])
def test_duckdb_keeps_a_third_of_its_memory_while_the_rows_are_fetched_then_all_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: str | None
) -> None:
    engine = DuckDB(Options(input=tmp_path / "x.csv", out=tmp_path, memory_limit=limit))

    def shown() -> int:
        (setting,) = engine.con.execute("SELECT current_setting('memory_limit')").fetchone()
        return setting_bytes(setting)

    try:
        given = shown()
        during: list[int] = []
        monkeypatch.setattr(backends, "pull", lambda *a: during.append(shown()))
        engine.pull(ibis.memtable({"a": [1]}), ())
        # DuckDB shows its settings to one decimal.
        assert during[0] == pytest.approx(given / 3, rel=0.1)
        assert shown() == given
    finally:
        engine.close()


def test_a_sort_that_runs_out_of_a_third_runs_again_with_all_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = DuckDB(Options(input=tmp_path / "x.csv", out=tmp_path, memory_limit="300MB"))

    def shown() -> int | None:
        (setting,) = engine.con.execute("SELECT current_setting('memory_limit')").fetchone()
        return setting_bytes(setting)

    limits: list[int | None] = []

    def pull(*args: object) -> str:
        limits.append(shown())
        if len(limits) == 1:
            raise duckdb.OutOfMemoryException("could not allocate block")
        return "pulled"

    try:
        given = shown()
        assert given is not None
        monkeypatch.setattr(backends, "pull", pull)
        assert engine.pull(ibis.memtable({"a": [1]}), ()) == "pulled"
        assert limits[0] is not None
        assert limits[0] < given
        assert limits[1:] == [given]
        assert shown() == given
    finally:
        engine.close()


@pytest.mark.parametrize(
    ("shown", "number"),
    [("1.3 GiB", int(1.3 * 2**30)), ("95.3 MiB", int(95.3 * 2**20)), ("512 bytes", 512)],
)
def test_memory_settings_are_read_as_duckdb_shows_them(shown: str, number: int) -> None:
    assert setting_bytes(shown) == number
    assert setting_bytes("1.3 GB") is None
    assert setting_bytes("") is None


def test_duckdbs_out_of_memory_error_says_to_raise_the_memory_limit(tmp_path: Path) -> None:
    engine = DuckDB(Options(input=tmp_path / "x.csv", out=tmp_path, memory_limit="300MB"))
    try:
        said = engine.explain(duckdb.OutOfMemoryException("could not allocate block"))
        assert said is not None
        assert "--memory-limit 300MB" in str(said)
        assert "could not allocate block" in str(said)
        full = engine.explain(
            duckdb.OutOfMemoryException(
                "failed to offload data block of size 256 KiB (max_temp_directory_size reached)"
            )
        )
        assert full is not None
        assert "could not spill to disk" in str(full)
        assert engine.explain(ValueError("something else")) is None
    finally:
        engine.close()


@pytest.mark.parametrize(
    ("strptime", "spark"),
    [
        ("%d.%m.%Y", "dd.MM.yyyy"),
        ("%m/%d/%y", "MM/dd/yy"),
        ("%Y-%m-%dT%H:%M:%S", "yyyy-MM-dd'T'HH:mm:ss"),
        ("%d %b %Y", "dd MMM yyyy"),
        ("%j'%Y", "DDD''yyyy"),
    ],
)
def test_date_formats_are_read_as_sparks_datetime_patterns(strptime: str, spark: str) -> None:
    # Spark's patterns: https://spark.apache.org/docs/latest/sql-ref-datetime-pattern.html
    assert java_pattern(strptime) == spark


def test_a_strptime_code_spark_cannot_read_is_named() -> None:
    with pytest.raises(AnalysisError, match="%U is not a code Ally reads on Spark"):
        java_pattern("%U/%Y")


def test_urls_stay_as_given_and_local_paths_become_absolute(tmp_path: Path) -> None:
    assert uri("s3a://bucket/sessions.parquet") == "s3a://bucket/sessions.parquet"
    assert uri("hdfs:///data/x.csv") == "hdfs:///data/x.csv"
    assert uri(str(tmp_path / "x.csv")) == str(tmp_path / "x.csv")
    assert Path(uri("x.csv")).is_absolute()
