"""benchmarks/scale.py reads Spark's event log and the step timer's lines as they are meant."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import generate  # noqa: E402
import scale  # noqa: E402


def test_spark_jobs_are_summed_by_the_step_that_started_them(tmp_path: Path) -> None:
    # Spark 4's event log v2: a folder per application, its events in numbered parts.
    app = tmp_path / "eventlog_v2_local-1"
    app.mkdir()
    first = [
        {
            "Event": "SparkListenerJobStart",
            "Job ID": 0,
            "Submission Time": 1000,
            "Stage IDs": [0, 1],
            "Properties": {"spark.job.description": "reading the input"},
        },
        {
            "Event": "SparkListenerTaskEnd",
            "Stage ID": 1,
            "Task Metrics": {"Executor Run Time": 1500, "Executor CPU Time": 1_000_000_000},
        },
    ]
    second = [
        {
            "Event": "SparkListenerTaskEnd",
            "Stage ID": 0,
            "Task Metrics": {"Executor Run Time": 500, "Executor CPU Time": 250_000_000},
        },
        {"Event": "SparkListenerJobEnd", "Job ID": 0, "Completion Time": 3500},
        {"Event": "SparkListenerJobStart", "Job ID": 1, "Submission Time": 4000, "Stage IDs": [2]},
        {"Event": "SparkListenerJobEnd", "Job ID": 1, "Completion Time": 4100},
    ]
    for name, events in (("events_2_local-1", second), ("events_1_local-1", first)):
        (app / name).write_text("\n".join(json.dumps(e) for e in events) + "\n")
    (app / "appstatus_local-1").write_text("")
    jobs = scale.spark_jobs(tmp_path)
    assert jobs["reading the input"] == {
        "jobs": 1,
        "job_wall": 2.5,
        "task_run": 2.0,
        "jvm_cpu": 1.25,
    }
    assert jobs["(outside the steps)"]["job_wall"] == 0.1


def test_a_duckdb_run_gives_its_steps_cpu_and_memory(tmp_path: Path) -> None:
    data = tmp_path / "rows.parquet"
    pq.write_table(generate.generate(4000, seed=3), data)
    rows = pq.ParquetFile(data).metadata.num_rows
    found = scale.run("duckdb", data, rows, False, "local[1]", 300, [], outputs=tmp_path)
    assert found.status == "ok"
    steps = [s["step"] for s in found.steps]
    assert "reading, checking and scoring" in steps
    assert "applying the model, writing sessions" in steps
    assert found.driver["cpu"] > 0
    assert found.cpu_by_kind["ally (driver)"] == found.driver["cpu"]
    assert found.peak_mb > 50
    assert (tmp_path / "out-scale-duckdb-rows" / "sessions.parquet").exists()
    assert "| reading, checking and scoring |" in scale.report(found)
