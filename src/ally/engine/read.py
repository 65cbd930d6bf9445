"""The run's embedded database: reading the input file into it, with each row's place in the
file kept for errors, and storing the stages computed from it."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import duckdb
import ibis
from ibis.expr.types import Table

from ally.engine.columns import LINE
from ally.engine.errors import AnalysisError
from ally.engine.options import ENCODINGS

# R and spreadsheet exports write missing values as NA; an empty field is missing too.
MISSING = ["", "NA"]

# A delimiter no text file holds, for reading the file line by line: each line is one field.
NO_DELIMITER = "\x01\x02\x03"

# The longest line read when counting lines (rows longer than DuckDB's 2 MB are rejected).
LONGEST_LINE = 64 * 2**20

# DuckDB records the rows it cannot split into the header's fields here (`store_rejects`).
READ_ERRORS = "ally_read_errors"
READ_SCANS = "ally_read_scans"


@dataclass(frozen=True)
class Dialect:
    """How a CSV file is written. The quote and its escape are always `"` (RFC 4180): the
    dialect is given, never guessed from the first rows, so a quote further down reads the same
    as one in the first line."""

    delimiter: str = ","
    encoding: str = "utf-8"


@dataclass(frozen=True)
class Input:
    """The file's rows, and the lines that are not rows of its header's shape."""

    rows: Table
    """`line` (the physical line in a CSV file, the header being line 1; the row in Parquet)
    and the file's columns, as text for CSV."""
    unreadable: Table
    """`line`, `reason` and `rule` (the reason without its values) of each line that cannot be
    split into the header's fields: too many or too few, or a quote not closed."""
    notes: tuple[str, ...] = ()


def connect(
    threads: int | None = None, memory_limit: str | None = None, spill: Path | None = None
) -> ibis.BaseBackend:
    """An embedded DuckDB for one run; everything stays in this process.

    With a memory limit, DuckDB spills intermediate tables to `spill` instead of growing.
    """
    con = duckdb.connect(":memory:")
    # DuckDB's allocator keeps the pages of freed stages until told otherwise: without its
    # background threads returning them, a 10 M-row run held 1.5 GB it no longer used while
    # the model was applied in Python (docs/benchmarks.md).
    con.execute("SET allocator_background_threads = true")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    run_memory(con, memory_limit)
    if spill is not None:
        con.execute("SET temp_directory = $dir", {"dir": str(spill)})
    return ibis.duckdb.from_connection(con)


def run_memory(con: duckdb.DuckDBPyConnection, memory_limit: str | None) -> None:
    """DuckDB's memory for the run: `--memory-limit`, or DuckDB's own default without one."""
    if memory_limit:
        con.execute("SET memory_limit = $limit", {"limit": memory_limit})
    else:
        con.execute("RESET memory_limit")


def stored(backend: ibis.BaseBackend, name: str, table: Table) -> Table:
    """Compute `table` once into a temporary table of the run's database."""
    backend.create_table(name, table, temp=True)
    return backend.table(name)


def quoted(path: Path) -> str:
    """A path as an SQL string literal (views cannot take parameters)."""
    return "'" + str(path).replace("'", "''") + "'"


def fold(name: str) -> str:
    """A column name as Ally matches it: `Client`, ` client` and `CLIENT` are `client`."""
    return name.strip().lower()


def read_input(backend: ibis.BaseBackend, path: Path, dialect: Dialect | None = None) -> Table:
    """The file as a table of text columns plus `line`; lines that are not rows of the header's
    shape are left out (`read_rows` gives them)."""
    return read_rows(backend, path, dialect or Dialect()).rows


def read_rows(backend: ibis.BaseBackend, path: Path, dialect: Dialect) -> Input:
    """The file as a table of text columns (CSV) plus `line`, and the lines that are not rows.

    Reading every column as text lets a bad value reject its row instead of the whole file.
    """
    if not path.exists():
        raise AnalysisError(f"{path}: no such file. Check the path.")
    if path.is_dir():
        raise AnalysisError(f"{path}: is a folder; give the CSV or Parquet file inside it.")
    con: duckdb.DuckDBPyConnection = backend.con
    con.execute(
        "CREATE OR REPLACE TEMP TABLE ally_unreadable (line BIGINT, reason VARCHAR, rule VARCHAR)"
    )
    if path.suffix.lower() == ".parquet":
        return Input(_read_parquet(backend, path), backend.table("ally_unreadable"))
    return _read_csv(backend, path, dialect)


def _read_parquet(backend: ibis.BaseBackend, path: Path) -> Table:
    con: duckdb.DuckDBPyConnection = backend.con
    source = "read_parquet(" + quoted(path) + ", file_row_number = true)"
    try:
        names = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
        check_names(path, [n for n in names if n != "file_row_number"])
        # file_row_number is 0-based; rows, not lines, since Parquet has none.
        # A view: Parquet is typed and columnar already, so it is read where it is used.
        con.execute(
            "CREATE TEMP VIEW ally_input AS SELECT file_row_number + 1 AS line, * "
            f"EXCLUDE (file_row_number) FROM {source}"
        )
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise AnalysisError(
            f"{path}: cannot be read as Parquet ({first}). "
            "Give a CSV file with a header row, or a Parquet file."
        ) from exc
    return backend.table("ally_input")


def check_names(path: Path | str, names: list[str]) -> None:
    """Stop on names Ally cannot tell apart, or that clash with the `line` Ally adds."""
    seen: dict[str, int] = {}
    for number, name in enumerate(names, start=1):
        if fold(name) == LINE:
            raise AnalysisError(
                f"{path}: has a column named {name!r}, which Ally adds itself; rename it."
            )
        if fold(name) in seen:
            raise AnalysisError(
                f"{path}: columns {seen[fold(name)]} and {number} are both named "
                f"{name.strip()!r} (Ally ignores case in column names); give each column "
                "its own name."
            )
        seen[fold(name)] = number


def not_encoded(path: Path | str, encoding: str, line: int) -> AnalysisError:
    if encoding == "utf-8":
        return AnalysisError(
            f"{path}: is not UTF-8 text (line {line} has bytes that UTF-8 does not allow); it "
            "was probably saved as Latin-1 or Windows-1252, as Excel does. Give "
            "--encoding latin-1, or save the file as UTF-8 (CSV UTF-8 in Excel)."
        )
    return AnalysisError(
        f"{path}: is not {encoding} text (line {line} cannot be decoded). Give "
        f"--encoding with the file's encoding ({', '.join(ENCODINGS)})."
    )


def _header(path: Path, dialect: Dialect) -> list[str]:
    """The column names on line 1, read as the rows will be (quotes as RFC 4180)."""
    if path.stat().st_size == 0:
        raise AnalysisError(
            f"{path}: is empty. Give a CSV file whose first line names the columns "
            "(client, session, measure, ...) and whose other lines are the rows."
        )
    # The header alone is decoded here; undecodable bytes in it show as U+FFFD.
    encoding = "utf-8-sig" if dialect.encoding == "utf-8" else dialect.encoding
    try:
        with path.open(newline="", encoding=encoding, errors="replace") as f:
            reader = csv.reader(f, delimiter=dialect.delimiter, quotechar='"', doublequote=True)
            first = next(reader, None)
    except csv.Error as exc:
        raise AnalysisError(f"{path}: line 1 cannot be read as a CSV header ({exc}).") from exc
    except OSError as exc:
        raise AnalysisError(f"{path}: cannot be read ({exc.strerror}).") from exc
    return header_names(path, first, dialect.delimiter, dialect.encoding)


def header_names(
    path: Path | str, first: list[str] | None, delimiter: str, encoding: str = "utf-8"
) -> list[str]:
    """The column names of line 1 (`first`, split), checked: not blank, decoded, split at the
    delimiter the file uses, each name its own; an empty name is `columnN`."""
    if first is None or not any(name.strip() for name in first):
        raise AnalysisError(
            f"{path}: line 1 is blank. The first line must name the columns "
            "(client, session, measure, ...)."
        )
    if any("\ufffd" in name for name in first):
        raise not_encoded(path, encoding, 1)
    names = [name if name.strip() else f"column{number}" for number, name in enumerate(first, 1)]
    if len(names) == 1:
        for other, shown in ((";", "';'"), ("\t", "tab"), ("|", "'|'"), (",", "','")):
            if other != delimiter and other in names[0]:
                raise AnalysisError(
                    f"{path}: line 1 is one column, {names[0]!r}, when split at "
                    f"{delimiter!r}; the file looks separated by {shown}. "
                    f"Give --delimiter {shown}."
                )
    check_names(path, names)
    return names


def _read_csv(backend: ibis.BaseBackend, path: Path, dialect: Dialect) -> Input:
    names = _header(path, dialect)
    con: duckdb.DuckDBPyConnection = backend.con
    for table in (READ_ERRORS, READ_SCANS):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    # The dialect is given in full (auto_detect off): nothing is guessed from the first rows.
    # Lines that are not rows of the header's shape are kept aside, not fatal.
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE ally_csv AS SELECT * FROM read_csv($path, "
            "columns = $columns, header = true, auto_detect = false, delim = $delimiter, "
            "quote = '\"', escape = '\"', encoding = $encoding, nullstr = $missing, "
            f"store_rejects = true, rejects_table = '{READ_ERRORS}', "
            f"rejects_scan = '{READ_SCANS}')",
            {
                "path": str(path),
                "columns": {name: "VARCHAR" for name in names},
                "delimiter": dialect.delimiter,
                "encoding": dialect.encoding,
                "missing": MISSING,
            },
        )
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise AnalysisError(
            f"{path}: cannot be read as CSV ({first}). "
            "Give a CSV file with a header row, or a Parquet file."
        ) from exc
    undecoded = con.execute(
        f"SELECT min(line) FROM {READ_ERRORS} WHERE error_type = 'INVALID ENCODING'"
    ).fetchone()
    if undecoded is not None and undecoded[0] is not None:
        raise not_encoded(path, dialect.encoding, int(undecoded[0]))
    _gather_unreadable(con, len(names))
    notes = _number_lines(con, path, dialect)
    return Input(backend.table("ally_rows"), backend.table("ally_unreadable"), notes)


def _gather_unreadable(con: duckdb.DuckDBPyConnection, fields: int) -> None:
    """One reason per line DuckDB could not read, by DuckDB's count of lines (`logical`: a
    quoted value spanning lines counts once; blank lines count)."""
    # DuckDB records one error per missing or extra field; "Found: N" is how far it got.
    found = "TRY_CAST(regexp_extract(error_message, 'Found: ([0-9]+)', 1) AS BIGINT)"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE ally_read_rejects AS
        SELECT line AS logical, kind,
               CASE kind
                 WHEN 'TOO MANY COLUMNS' THEN 'the line has ' || most || ' fields, but the '
                   || 'header has {fields}; a value holding the delimiter needs quotes'
                 WHEN 'MISSING COLUMNS' THEN 'the line has ' || least
                   || CASE least WHEN 1 THEN ' field' ELSE ' fields' END
                   || ', but the header has {fields}'
                 WHEN 'UNQUOTED VALUE' THEN 'a quoted value is not closed: its closing quote '
                   || 'is missing or followed by more text (a quote inside a value is written '
                   || 'twice, "")'
                 WHEN 'LINE SIZE OVER MAXIMUM' THEN 'the line is longer than 2 MB, the most a '
                   || 'row may be'
                 ELSE 'the line cannot be read: ' || coalesce(message, kind, 'no reason given')
               END AS reason,
               CASE kind
                 WHEN 'TOO MANY COLUMNS' THEN 'more fields than the header'
                 WHEN 'MISSING COLUMNS' THEN 'fewer fields than the header'
                 WHEN 'UNQUOTED VALUE' THEN 'a quoted value not closed'
                 WHEN 'LINE SIZE OVER MAXIMUM' THEN 'a line too long'
                 ELSE 'a line that cannot be read'
               END AS rule
        FROM (
          SELECT CAST(line AS BIGINT) AS line,
                 arg_min(error_type, coalesce(column_idx, 0)) AS kind,
                 arg_min(error_message, coalesce(column_idx, 0)) AS message,
                 max({found}) AS most, min({found}) AS least
          FROM {READ_ERRORS} GROUP BY line
        )
        """
    )


def _number_lines(con: duckdb.DuckDBPyConnection, path: Path, dialect: Dialect) -> tuple[str, ...]:
    """Give each row its physical line in the file (the header being line 1) as `ally_rows`,
    and each unreadable line its own in `ally_unreadable`.

    DuckDB keeps the rows in file order but says nothing of blank lines between them or of
    quoted values spanning lines, and counts the lines of its errors its own way (`logical`).
    So the file is read a second time as bare lines, which is cheap: the physical lines that
    begin a record (not blank, not inside a quoted value) are the rows' lines, in order.
    """
    lines = (
        "read_csv("
        + quoted(path)
        + ", columns = {'text': 'VARCHAR'}, header = false, auto_detect = false, "
        "delim = $none, quote = '', escape = '', strict_mode = false, encoding = $encoding, "
        f"max_line_size = {LONGEST_LINE})"
    )
    params = {"none": NO_DELIMITER, "encoding": dialect.encoding}
    rows = _count(con, "SELECT count(*) FROM ally_csv")
    rejected = _count(con, "SELECT count(*) FROM ally_read_rejects")
    try:
        counts = con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE text IS NULL) FROM {lines}", params
        ).fetchone()
    except duckdb.Error:
        counts = None
    if counts is None:
        return _as_rows(con, path, rows)
    total, blank = int(counts[0]), int(counts[1])
    _drop_relation(con, "ally_rows")
    if blank == 0 and rejected == 0 and total == rows + 1:
        # One line per row: the common case needs no second table.
        con.execute(f"CREATE TEMP VIEW ally_rows AS SELECT rowid + 2 AS {LINE}, * FROM ally_csv")
        return ()

    spanning = total - blank != rows + rejected + 1
    # Physical line = rowid + 1. A quoted value spans lines when its line holds an odd number of
    # quotes (RFC 4180 doubles a quote inside a value), and ends at the next such line.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE ally_lines AS SELECT text IS NULL AS blank, "
        + (
            "coalesce((strlen(text) - strlen(replace(text, '\"', ''))) % 2 = 1, false)"
            if spanning
            else "false"
        )
        + f" AS odd FROM {lines}",
        params,
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE ally_starts AS
        WITH numbered AS (SELECT CAST(rowid + 1 AS BIGINT) AS p, blank, odd FROM ally_lines),
        odd AS (SELECT p, row_number() OVER (ORDER BY p) AS k FROM numbered WHERE odd),
        spans AS (
          SELECT a.p AS lo, coalesce(b.p, {total}) AS hi FROM odd a
          LEFT JOIN odd b ON b.k = a.k + 1 WHERE a.k % 2 = 1
        ),
        skipped AS (SELECT lo, hi, sum(hi - lo) OVER (ORDER BY lo) AS skipped FROM spans)
        SELECT n.p AS line, CAST(n.p - coalesce(s.skipped, 0) AS BIGINT) AS logical
        FROM numbered n ASOF LEFT JOIN skipped s ON n.p > s.lo
        WHERE n.p >= 2 AND NOT n.blank AND (s.hi IS NULL OR n.p > s.hi)
        ORDER BY n.p
        """
    )
    starts = _count(con, "SELECT count(*) FROM ally_starts")
    unmatched = _count(
        con,
        "SELECT count(*) FROM ally_read_rejects r ANTI JOIN ally_starts s ON s.logical = r.logical",
    )
    if starts != rows + rejected or unmatched:
        # Not RFC 4180 (a quote inside an unquoted value): count rows as DuckDB does.
        return _as_rows(con, path, rows)
    _rows_and_unreadable(con)
    return ()


def _as_rows(con: duckdb.DuckDBPyConnection, path: Path, rows: int) -> tuple[str, ...]:
    """Number the lines as DuckDB counts them, when the file's own lines cannot be told."""
    most = _count(con, "SELECT coalesce(max(logical), 0) FROM ally_read_rejects")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE ally_starts AS
        SELECT logical AS line, logical FROM ally_read_rejects
        UNION ALL
        SELECT * FROM (
          SELECT CAST(range AS BIGINT) AS line, CAST(range AS BIGINT) AS logical
          FROM range(2, {rows + most + 2})
          ANTI JOIN ally_read_rejects r ON r.logical = range ORDER BY range LIMIT {rows}
        )
        """
    )
    _rows_and_unreadable(con)
    return (
        f"{path}: its lines cannot all be told apart (a quote inside a value that is not "
        "quoted, which RFC 4180 does not allow, or a line longer than 64 MB), so the lines "
        "in rejected.csv and in messages count rows instead; they may be off after blank "
        "lines and values spanning lines",
    )


def _rows_and_unreadable(con: duckdb.DuckDBPyConnection) -> None:
    """`ally_rows` and `ally_unreadable` from the lines records begin on (`ally_starts`)."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE ally_row_lines AS SELECT s.line FROM ally_starts s "
        "ANTI JOIN ally_read_rejects r ON s.logical = r.logical ORDER BY s.line"
    )
    _rows_at(con)
    con.execute(
        "INSERT INTO ally_unreadable SELECT s.line, r.reason, r.rule FROM ally_read_rejects r "
        "JOIN ally_starts s ON s.logical = r.logical"
    )
    for table in ("ally_lines", "ally_starts", "ally_row_lines", "ally_line_steps"):
        con.execute(f"DROP TABLE IF EXISTS {table}")


STEPS = 100
"""Up to this many changes of the gap between a row's place and its line are a CASE in a view;
more, and the lines are stored with the rows."""


def _rows_at(con: duckdb.DuckDBPyConnection) -> None:
    """`ally_rows`: the rows of `ally_csv` with their lines from `ally_row_lines` (same order).

    The gap between a row's line and its place (rowid + 2) changes only at a blank line, a
    value spanning lines or a line rejected, so a few steps say it for every row; a view over
    them stays parallel, which a positional join does not.
    """
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE ally_line_steps AS
        SELECT k, gap FROM (
          SELECT rowid AS k, line - rowid - 2 AS gap,
                 lag(line - rowid - 2) OVER (ORDER BY rowid) AS before
          FROM ally_row_lines
        ) WHERE gap != coalesce(before, 0) ORDER BY k
        """
    )
    steps = con.execute("SELECT k, gap FROM ally_line_steps ORDER BY k DESC").fetchall()
    if len(steps) <= STEPS:
        gap = " ".join(f"WHEN rowid >= {int(k)} THEN {int(g)}" for k, g in steps)
        line = f"rowid + 2 + CASE {gap} ELSE 0 END" if steps else "rowid + 2"
        _drop_relation(con, "ally_rows")
        con.execute(f"CREATE TEMP VIEW ally_rows AS SELECT {line} AS {LINE}, * FROM ally_csv")
    else:
        _drop_relation(con, "ally_rows")
        con.execute(
            f"CREATE TEMP TABLE ally_rows AS SELECT l.line AS {LINE}, c.* "
            "FROM ally_csv c POSITIONAL JOIN ally_row_lines l"
        )
        con.execute("DROP TABLE ally_csv")


def _drop_relation(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop a table or view of this name, if there is one (a second read in one database)."""
    kinds = con.execute(
        "SELECT 'TABLE' FROM duckdb_tables() WHERE table_name = $name "
        "UNION ALL SELECT 'VIEW' FROM duckdb_views() WHERE view_name = $name",
        {"name": name},
    ).fetchall()
    for (kind,) in kinds:
        con.execute(f"DROP {kind} {name}")


def _count(con: duckdb.DuckDBPyConnection, query: str) -> int:
    found = con.execute(query).fetchone()
    return int(found[0]) if found else 0


def check_date_format(backend: ibis.BaseBackend, date_format: str) -> None:
    """Stop on a --date-format DuckDB's strptime does not know."""
    try:
        backend.con.execute("SELECT try_strptime('', $format)", {"format": date_format})
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise AnalysisError(
            f"--date-format {date_format!r} is not a date format ({first}). Write it as "
            "strptime does, e.g. %d.%m.%Y for 22.11.2026 or %m/%d/%Y for 11/22/2026."
        ) from exc
