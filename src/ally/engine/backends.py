"""The query engines `ally analyze` runs on: what differs between them, and nothing else.

Every rule is written once, in Ibis (`ally.engine.rows`, `ally.engine.analyze`) or in the core
(`ally.scoring`, `ally.change`, `ally.feedback`). An engine only reads the input, stores a
stage, scores the typed rows beside them (calling the core) and writes the outputs:

- `DuckDB`: an embedded DuckDB in this process, the default;
- `ally.engine.spark.Spark`: Ibis's PySpark backend on a Spark cluster or local Spark
  (`--engine spark`), imported only when it is asked for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import duckdb
import ibis
import pyarrow as pa
import pyarrow.parquet as pq
from ibis.expr.types import Table, Value

from ally.engine.administrations import Pulled, pull
from ally.engine.errors import AnalysisError
from ally.engine.options import Options
from ally.engine.read import (
    Dialect,
    Input,
    check_date_format,
    connect,
    read_rows,
    run_memory,
    stored,
)
from ally.engine.rows import item_numbers
from ally.engine.scores import BATCH_ROWS, SCORE_ROWS, answers, no_scores, score_batch
from ally.feedback.practice import MeasureParams, PracticeModel


@dataclass(frozen=True)
class Applied:
    """What applying the model wrote, and the series' counts for the run's summary."""

    outputs: list[str]
    counts: pa.Table
    """`ally.engine.administrations.series_counts`."""
    unwritten: Callable[[], None] | None = None
    """Writes the outputs not yet written, once the rows the model was applied to are freed
    (`ally.engine.analyze`)."""


class Engine(Protocol):
    """What `ally analyze` asks of a query engine beyond Ibis expressions."""

    backend: ibis.BaseBackend
    streams: bool
    """Whether `sessions` may be written slice by slice as it is applied (a local Parquet file)."""

    def read(self, options: Options) -> Input: ...

    def parse_date(self, text: Value, date_format: str) -> Value:
        """A date from text by a strptime format; null where the text does not match."""
        ...

    def stored(self, name: str, table: Table) -> Table:
        """Compute `table` once; later stages read the stored rows."""
        ...

    def drop(self, name: str) -> None:
        """Free a stored stage that no later stage reads."""
        ...

    def checked(
        self,
        name: str,
        typed: Table,
        params: Mapping[str, MeasureParams],
        rows: Callable[[Table], Table],
    ) -> Table:
        """The typed rows with score_value, subscale_*, critical and measure_reason beside each
        (`ally.engine.scores`, which calls the core), made into `rows` of them and stored as
        `name`."""
        ...

    def pull(self, rows: Table, subscales: Sequence[str], fit: bool = True) -> Pulled:
        """The good rows, sorted, as the core's columns (`ally.engine.administrations`). With
        `fit` False no practice model is fitted from them, and an engine that applies the
        model where the rows are may leave them there."""
        ...

    def apply(
        self, model: PracticeModel, pulled: Pulled, options: Options, check_ins: frozenset[str]
    ) -> Applied | None:
        """Apply the model where the rows are and write `sessions`, `episodes` (and `groups`);
        None where `pulled` holds the rows and the model is applied in this process."""
        ...

    def location(self, options: Options, name: str) -> str:
        """Where the output `name` (e.g. sessions.csv) of the run goes."""
        ...

    def write(self, table: pa.Table, location: str) -> None:
        """An output held as Arrow columns."""
        ...

    def write_rows(self, table: Table, location: str) -> None:
        """An output computed by the engine, as CSV."""
        ...

    def close(self) -> None: ...

    def explain(self, error: Exception) -> AnalysisError | None:
        """What the user can do about an error the engine raised mid-run (running out of
        memory); None for an error it has nothing to say about."""
        ...


@ibis.udf.scalar.builtin  # type: ignore[untyped-decorator]
def try_strptime(text: str, format: str) -> dt.datetime:  # type: ignore[empty-body]
    """DuckDB's strptime, null where the text does not match the format."""


class DuckDB:
    """An embedded DuckDB for one run; everything stays in this process.

    With a memory limit, DuckDB spills intermediate tables to `spill` instead of growing.
    """

    streams = True

    def __init__(self, options: Options, spill: Path | None = None) -> None:
        self.backend = connect(options.threads, options.memory_limit, spill)
        self.memory_limit = options.memory_limit
        if options.date_format is not None:
            check_date_format(self.backend, options.date_format)

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        con: duckdb.DuckDBPyConnection = self.backend.con
        return con

    def read(self, options: Options) -> Input:
        return read_rows(self.backend, options.input, Dialect(options.delimiter, options.encoding))

    def parse_date(self, text: Value, date_format: str) -> Value:
        return try_strptime(text, date_format).cast("date")

    def stored(self, name: str, table: Table) -> Table:
        return stored(self.backend, name, table)

    def drop(self, name: str) -> None:
        kinds = self.con.execute(
            "SELECT 'TABLE' FROM duckdb_tables() WHERE table_name = $name "
            "UNION ALL SELECT 'VIEW' FROM duckdb_views() WHERE view_name = $name",
            {"name": name},
        ).fetchall()
        for (kind,) in kinds:
            self.con.execute(f"DROP {kind} {name}")

    def checked(
        self,
        name: str,
        typed: Table,
        params: Mapping[str, MeasureParams],
        rows: Callable[[Table], Table],
    ) -> Table:
        # A slice of the typed rows at a time is scored, and its rows go into `name` with their
        # scores beside them: holding every slice's scores until all were scored took 5.5 GB
        # at 100 M rows, and storing them apart to set them beside their rows afterwards took
        # a second pass over every row on one thread (DuckDB scans a positional join on one).
        # A slice is a range of row ids, which are the stored rows' positions.
        typed_name = typed.get_name()
        items = item_numbers(typed)
        wanted = ", ".join(f'"{c}"' for c in answers(items))
        (ids,) = self.con.execute(
            f"SELECT coalesce(max(rowid) + 1, 0) FROM {typed_name}"
        ).fetchone() or (0,)
        empty = pa.Table.from_batches([no_scores(params)])
        self._slice(typed_name, 0, 0, empty)
        query = self.backend.compile(rows(self.backend.table("ally_slice")))
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {query}")

        def fetched(start: int) -> pa.Table:
            return self.con.execute(
                f"SELECT {wanted} FROM {typed_name} WHERE rowid >= $start AND rowid < $stop",
                {"start": start, "stop": start + BATCH_ROWS},
            ).fetch_arrow_table()

        def store_slice(start: int, scores: pa.Table) -> None:
            self._slice(typed_name, start, start + BATCH_ROWS, scores)
            self.con.execute(f"INSERT INTO {name} {query}")

        # DuckDB stores a slice, on one thread, while the core scores the next in this one: a
        # worker makes every call on the connection, one at a time, in the order given.
        duckdb_calls = ThreadPoolExecutor(max_workers=1)
        stores: list[Future[None]] = []
        try:
            coming = duckdb_calls.submit(fetched, 0)
            for start in range(0, ids, BATCH_ROWS):
                sliced = coming.result()
                for done in (f for f in stores if f.done()):
                    done.result()  # a slice DuckDB could not store stops the run here
                coming = duckdb_calls.submit(fetched, start + BATCH_ROWS)
                # Scored in small batches, whose columns stay in the processor's cache: about
                # 1.5 times as fast as a whole slice at once (docs/benchmarks.md).
                scores = pa.Table.from_batches(
                    [
                        score_batch(batch, params, items)
                        for batch in sliced.combine_chunks().to_batches(SCORE_ROWS)
                    ],
                    schema=empty.schema,
                )
                stores.append(duckdb_calls.submit(store_slice, start, scores))
            for store in stores:
                store.result()
        finally:
            # On a failure, the slices not yet begun are not stored.
            duckdb_calls.shutdown(cancel_futures=True)
            self.con.execute("DROP VIEW IF EXISTS ally_slice")
            self.con.unregister("ally_slice_scores")
        (stored_rows,) = self.con.execute(f"SELECT count(*) FROM {name}").fetchone() or (0,)
        if stored_rows != ids:
            raise AnalysisError(
                f"{ids - stored_rows:,} rows were not stored with their scores. This is a "
                "fault in Ally, not in the input: please report it."
            )
        return self.backend.table(name)

    def _slice(self, typed_name: str, start: int, stop: int, scores: pa.Table) -> None:
        """`ally_slice`: the typed rows of row ids `start` up to `stop` with their `scores`
        beside them, by position. From a view of the Arrow table that is replaced by the next
        slice's: an Ibis memtable would stay registered, holding its Arrow copy, until the
        process ends."""
        self.con.register("ally_slice_scores", scores)
        bounds = f"FROM {typed_name} WHERE rowid >= {start} AND rowid < {stop}"
        # A slice's rows come back in their order (DuckDB keeps a stored table's order when it
        # reads it, `preserve_insertion_order`); that each has its own scores, none missing and
        # none left over, is checked by their lines (a positional join pads the shorter side).
        (misplaced,) = self.con.execute(
            f"SELECT count(*) FROM ({bounds}) AS t POSITIONAL JOIN ally_slice_scores AS s "
            "WHERE t.line IS DISTINCT FROM s.line"
        ).fetchone() or (0,)
        if misplaced:
            raise AnalysisError(
                f"{misplaced:,} rows' scores did not come back beside their rows. This is a "
                "fault in Ally, not in the input: please report it."
            )
        self.con.execute(
            "CREATE OR REPLACE TEMP VIEW ally_slice AS SELECT t.*, s.* EXCLUDE (line) "
            f"FROM ({bounds}) AS t POSITIONAL JOIN ally_slice_scores AS s"
        )

    def pull(self, rows: Table, subscales: Sequence[str], fit: bool = True) -> Pulled:
        # The sorted rows move from DuckDB into this process here. Meanwhile DuckDB keeps a
        # third of its memory (of the limit as it shows it, rounded down) and spills the rest
        # of the sort, so that the two do not both hold them: at 10 M rows the run's peak fell
        # from 2.7 GB to 1.95 GB, for some 2 s more of sorting (docs/benchmarks.md). Where a
        # third is too little for the sort (a low --memory-limit, many threads), the sort is
        # run again with all of it, as before.
        (shown,) = self.con.execute("SELECT current_setting('memory_limit')").fetchone() or ("",)
        limit = setting_bytes(shown)
        if limit is None:
            return pull(rows, subscales)
        self.con.execute("SET memory_limit = $limit", {"limit": f"{limit // 3}B"})
        try:
            return pull(rows, subscales)
        except duckdb.OutOfMemoryException:
            run_memory(self.con, self.memory_limit)
            return pull(rows, subscales)
        finally:
            run_memory(self.con, self.memory_limit)

    def apply(
        self, model: PracticeModel, pulled: Pulled, options: Options, check_ins: frozenset[str]
    ) -> Applied | None:
        return None

    def location(self, options: Options, name: str) -> str:
        options.out.mkdir(parents=True, exist_ok=True)
        return str(options.out / name)

    def write(self, table: pa.Table, location: str) -> None:
        """Parquet straight from the Arrow columns (the same file content as DuckDB writes, at
        a third of its CPU time); CSV by DuckDB, as every CSV of `ally analyze` is, so numbers
        and dates are written alike in each."""
        if location.endswith(".parquet"):
            pq.write_table(table, location)
        else:
            self.backend.to_csv(ibis.memtable(table), location)

    def write_rows(self, table: Table, location: str) -> None:
        self.backend.to_csv(table, location)

    def explain(self, error: Exception) -> AnalysisError | None:
        if not isinstance(error, duckdb.OutOfMemoryException):
            return None
        said = (str(error).strip().splitlines() or [""])[0]
        if "offload" in said or "temp_directory" in said:
            return AnalysisError(
                f"DuckDB could not spill to disk ({said}). Free space in the temporary folder "
                "(TMPDIR), or give a higher --memory-limit so less is spilled."
            )
        return AnalysisError(
            f"DuckDB ran out of memory within --memory-limit {self.memory_limit} even spilling "
            f"to disk ({said}). Give a higher --memory-limit (e.g. 4GB) or fewer --threads."
        )

    def close(self) -> None:
        self.backend.disconnect()


UNITS = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "PiB": 2**50}
"""The units DuckDB shows a memory setting in (`current_setting('memory_limit')`)."""


def setting_bytes(shown: str) -> int | None:
    """Bytes of a memory setting as DuckDB shows it, e.g. '1.3 GiB'; None for a way of showing
    it that Ally does not know."""
    number, _, unit = shown.strip().partition(" ")
    try:
        return int(float(number) * UNITS[unit])
    except (KeyError, ValueError):
        return None


def open_engine(options: Options, spill: Path | None = None) -> Engine:
    """The engine `options.engine` names."""
    if options.engine == "spark":
        from ally.engine.spark import Spark

        return Spark(options)
    if options.engine != "duckdb":
        raise AnalysisError(f"--engine {options.engine}: give duckdb or spark.")
    return DuckDB(options, spill)
