"""DuckDB scores the typed rows a slice at a time and fetches the sorted rows a batch at a time:
the outputs are the same whatever the sizes of the slices and batches.

Real runs use slices of 500,000 rows (scored 32,768 at a time) and batches of a million, so
small inputs see one of each; here all are a few rows, so every slice edge, every batch's own
dictionaries of the text columns, a duplicate and a group's members fall across them.
`sessions` is applied and written a slice of episodes at a time too (250,000 rows): as CSV,
through a Parquet file beside it.
"""

from __future__ import annotations

import csv
import errno
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from click.testing import CliRunner

from ally.cli.main import cli
from ally.engine import administrations, backends
from ally.simulate import SimulationConfig, simulate


def practice(tmp_path: Path) -> Path:
    """The demo practice's mix (groups with check-ins, ongoing episodes), goal-progress rows,
    a row that cannot be scored, and a duplicate far from its first row."""
    config = SimulationConfig(
        episodes=30, seed=11, ongoing_share=0.4, group_share=0.3, group_checkin=True
    )
    simulate(config, tmp_path / "sim", "csv")
    data = tmp_path / "sim" / "sessions.csv"
    with data.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header, body = list(reader.fieldnames or []), list(reader)
    answers = [f"item{n}" for n in range(1, 4)]
    extra = [
        ("c02", "1", "2025-01-06", "goal-progress", ["2", "5"]),
        ("c02", "3", "2025-01-20", "goal-progress", ["6", "4", "1"]),
        ("c03", "2", "2025-01-13", "phq9", ["9"]),
    ]
    with data.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, header, restval="")
        writer.writeheader()
        writer.writerows([*body[:40], body[200], *body[40:]])
        for client, session, date, measure, given in extra:
            named = {"client": client, "episode": "e01", "clinician": "t1", "rater": "client"}
            writer.writerow(
                named
                | {"session": session, "date": date, "measure": measure}
                | dict(zip(answers, given, strict=False))
            )
    return data


def analysed(data: Path, out: Path) -> dict[str, str]:
    result = CliRunner().invoke(cli, ["analyze", str(data), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(out.iterdir())}


def test_slices_and_batches_of_a_few_rows_give_the_outputs_of_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = practice(tmp_path)
    whole = analysed(data, tmp_path / "whole")
    assert set(whole) == {"sessions.csv", "episodes.csv", "groups.csv", "rejected.csv"}
    assert "duplicate of line" in whole["rejected.csv"]
    assert "item" in whole["rejected.csv"] or "score" in whole["rejected.csv"]

    slices: list[int] = []
    score_batch = backends.score_batch
    monkeypatch.setattr(
        backends,
        "score_batch",
        lambda batch, *a: slices.append(batch.num_rows) or score_batch(batch, *a),
    )
    monkeypatch.setattr(backends, "BATCH_ROWS", 7)
    monkeypatch.setattr(backends, "SCORE_ROWS", 3)
    monkeypatch.setattr(administrations, "FETCH_ROWS", 5)
    sliced = analysed(data, tmp_path / "sliced")

    assert len(slices) > 100
    assert max(slices) == 3
    assert sliced == whole


def ungrouped_practice(tmp_path: Path) -> Path:
    config = SimulationConfig(episodes=30, seed=11, ongoing_share=0.4, group_share=0.0)
    simulate(config, tmp_path / "sim", "csv")
    return tmp_path / "sim" / "sessions.csv"


def test_csv_sessions_stream_through_a_parquet_file_and_are_written_as_if_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without groups, `sessions` goes out a slice at a time: for CSV, through a Parquet file
    # beside it that DuckDB then writes as CSV and that is removed.
    data = ungrouped_practice(tmp_path)
    with monkeypatch.context() as held_here:
        held_here.setattr(backends.DuckDB, "streams", False)
        held = analysed(data, tmp_path / "held")
    cuts: list[int] = []
    episode_slices = administrations.episode_slices

    def small_slices(episode: object) -> list[tuple[int, int]]:
        found = episode_slices(episode, 25)  # type: ignore[arg-type]
        cuts.append(len(found))
        return found

    staged: list[str] = []
    writer = administrations.pq.ParquetWriter

    def recorded(where: str, *args: object, **kwargs: object) -> object:
        staged.append(Path(where).name)
        return writer(where, *args, **kwargs)

    monkeypatch.setattr(administrations, "episode_slices", small_slices)
    monkeypatch.setattr(administrations.pq, "ParquetWriter", recorded)
    streamed = analysed(data, tmp_path / "streamed")
    assert cuts
    assert cuts[0] > 5
    assert staged == ["sessions.csv" + administrations.STAGED]
    assert set(streamed) == {"sessions.csv", "episodes.csv", "rejected.csv"}
    assert streamed == held


def test_a_csv_sessions_that_cannot_be_written_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = ungrouped_practice(tmp_path)
    write_rows = backends.DuckDB.write_rows

    def full_disk(self: backends.DuckDB, table: object, location: str) -> None:
        if location.endswith("sessions.csv"):
            raise OSError(errno.ENOSPC, "No space left on device", location)
        write_rows(self, table, location)  # type: ignore[arg-type]

    monkeypatch.setattr(backends.DuckDB, "write_rows", full_disk)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["analyze", str(data), "--out", str(out), "--no-progress"])
    assert result.exit_code == 1
    assert "sessions.csv: the outputs cannot be written (No space left on device)" in result.output
    assert "give --out a folder on another disk" in result.output
    assert "Traceback" not in result.output
    assert not [p.name for p in out.iterdir() if p.name.endswith(administrations.STAGED)]


def test_a_lost_connection_is_not_taken_for_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Spark's JVM going away surfaces as a ConnectionError, an OSError that the engine explains.
    def lost(self: backends.DuckDB, table: object, location: str) -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(backends.DuckDB, "write_rows", lost)
    out = tmp_path / "out"
    data = ungrouped_practice(tmp_path)
    result = CliRunner().invoke(cli, ["analyze", str(data), "--out", str(out), "--no-progress"])
    assert isinstance(result.exception, ConnectionRefusedError)
    assert "cannot be written" not in result.output


def test_a_slice_duckdb_cannot_store_stops_the_run_with_its_explanation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DuckDB stores each scored slice on a thread of its own while the core scores the next:
    # a failure there must reach the run, not be lost with the thread.
    slice_rows = backends.DuckDB._slice
    made: list[int] = []

    def out_of_memory(
        self: backends.DuckDB, typed_name: str, start: int, stop: int, scores: object
    ) -> None:
        made.append(start)
        if len(made) == 4:
            raise duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block")
        slice_rows(self, typed_name, start, stop, scores)  # type: ignore[arg-type]

    monkeypatch.setattr(backends.DuckDB, "_slice", out_of_memory)
    monkeypatch.setattr(backends, "BATCH_ROWS", 50)
    out = tmp_path / "out"
    data = ungrouped_practice(tmp_path)
    result = CliRunner().invoke(cli, ["analyze", str(data), "--out", str(out), "--no-progress"])
    assert result.exit_code == 1
    assert "DuckDB ran out of memory within --memory-limit" in result.output
    assert "Traceback" not in result.output
    assert len(made) >= 4
    assert not (out / "sessions.csv").exists()


def test_rows_are_compared_with_the_row_before_alike_across_the_batches_dictionaries() -> None:
    # Each fetched batch encodes its text with a dictionary of its own; within a batch equal
    # indices mean equal values, and across batches (or where a dictionary lists a value twice)
    # the values themselves are compared. An empty value equals nothing.
    values = ["a", "a", None, None, "b", "b", "b", "c", "c", "a", "a", "a"]
    plain = pa.chunked_array([pa.array(values)])
    cuts = [(0, 3), (3, 5), (5, 5), (5, 8), (8, 12)]
    encoded = pa.chunked_array(
        [pa.array(values[i:j], pa.string()).dictionary_encode() for i, j in cuts],
        pa.dictionary(pa.int32(), pa.string()),
    )
    listed_twice = pa.DictionaryArray.from_arrays(  # values[8:12], "a" listed twice
        pa.array([1, 0, 2, 0], pa.int32()), pa.array(["a", "c", "a"])
    )
    twice = pa.chunked_array([*encoded.chunks[:4], listed_twice], encoded.type)
    expected = [False, True, False, False, False, True, True, False, True, False, True, True]
    for column in (plain, encoded, twice):
        assert administrations._same_as_before(column).tolist() == expected


def test_scores_that_do_not_come_back_for_every_row_stop_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A row without its scores would be in neither `sessions` nor `rejected.csv`: a fault in
    # Ally that must stop the run, not pass silently.
    score_batch = backends.score_batch

    def one_short(batch: pa.RecordBatch, *a: object) -> pa.RecordBatch:
        found = score_batch(batch, *a)  # type: ignore[arg-type]
        return found.slice(0, found.num_rows - 1) if found.num_rows > 1 else found

    monkeypatch.setattr(backends, "score_batch", one_short)
    out = tmp_path / "out"
    data = ungrouped_practice(tmp_path)
    result = CliRunner().invoke(cli, ["analyze", str(data), "--out", str(out), "--no-progress"])
    assert result.exit_code == 1
    assert "scores did not come back beside their rows" in result.output
    assert "fault in Ally" in result.output
    assert not (out / "sessions.csv").exists()
