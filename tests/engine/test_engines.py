"""Choosing the engine: what `--engine spark` says without PySpark, and how it reads dates."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ally.cli.main import cli
from ally.engine.errors import AnalysisError
from ally.engine.spark import java_pattern, session, uri


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
