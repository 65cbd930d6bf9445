"""The run's embedded database: reading the input file into it, with each row's place in the
file kept for errors, and storing the stages computed from it."""

from __future__ import annotations

from pathlib import Path

import duckdb
import ibis
from ibis.expr.types import Table

from ally.engine.columns import LINE
from ally.engine.errors import AnalysisError

# R and spreadsheet exports write missing values as NA; an empty field is missing too.
MISSING = ["", "NA"]


def connect(
    threads: int | None = None, memory_limit: str | None = None, spill: Path | None = None
) -> ibis.BaseBackend:
    """An embedded DuckDB for one run; everything stays in this process.

    With a memory limit, DuckDB spills intermediate tables to `spill` instead of growing.
    """
    con = duckdb.connect(":memory:")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute("SET memory_limit = $limit", {"limit": memory_limit})
    if spill is not None:
        con.execute("SET temp_directory = $dir", {"dir": str(spill)})
    return ibis.duckdb.from_connection(con)


def stored(backend: ibis.BaseBackend, name: str, table: Table) -> Table:
    """Compute `table` once into a temporary table of the run's database."""
    backend.create_table(name, table, temp=True)
    return backend.table(name)


def quoted(path: Path) -> str:
    """A path as an SQL string literal (views cannot take parameters)."""
    return "'" + str(path).replace("'", "''") + "'"


def read_input(backend: ibis.BaseBackend, path: Path) -> Table:
    """The file as a table of text columns plus `line`, the row's line (CSV) or row (Parquet).

    Reading every column as text lets a bad value reject its row instead of the whole file.
    """
    if not path.exists():
        raise AnalysisError(f"{path}: no such file. Check the path.")
    if path.is_dir():
        raise AnalysisError(f"{path}: is a folder; give the CSV or Parquet file inside it.")
    suffix = path.suffix.lower()
    con: duckdb.DuckDBPyConnection = backend.con
    try:
        if suffix == ".parquet":
            # file_row_number is 0-based; rows, not lines, since Parquet has none.
            # A view: Parquet is typed and columnar already, so it is read where it is used.
            con.execute(
                "CREATE TEMP VIEW ally_input AS SELECT file_row_number + 1 AS line, * "
                "EXCLUDE (file_row_number) FROM read_parquet("
                + quoted(path)
                + ", file_row_number = true)"
            )
            return backend.table("ally_input")
        con.execute(
            "CREATE TEMP TABLE ally_raw AS SELECT * FROM read_csv($path, all_varchar = true, "
            "header = true, nullstr = $missing)",
            {"path": str(path), "missing": MISSING},
        )
    except duckdb.Error as exc:
        kind = "Parquet" if suffix == ".parquet" else "CSV"
        first = str(exc).strip().splitlines()[0]
        raise AnalysisError(
            f"{path}: cannot be read as {kind} ({first}). "
            "Give a CSV file with a header row, or a Parquet file."
        ) from exc
    if LINE in backend.table("ally_raw").columns:
        raise AnalysisError(
            f"{path}: has a column named {LINE!r}, which Ally adds itself; rename it."
        )
    # A table keeps the file's row order in rowid; the header is line 1. Quoted fields that span
    # lines would shift the count, which session data does not have.
    return backend.sql(f"SELECT rowid + 2 AS {LINE}, * FROM ally_raw")
