"""`ally analyze --engine spark`: the same analysis on Spark.

The relational stages are the DuckDB engine's Ibis expressions, run by Ibis's PySpark backend.
What Ibis does not say is here, in Spark's own terms:

- reading: a CSV file is read as lines, numbered as the file numbers them, and each line is
  split by Python's csv module (RFC 4180, the quote doubled), so a rejected row carries its
  physical line as with DuckDB; a Parquet file's rows are numbered in file order;
- scoring: the typed rows pass through `ally.engine.scores` (the core's scoring) in Arrow
  batches on the executors, the scores beside each row;
- the model: the good rows are sorted into partitions of whole episodes, in order. Only the
  core's numeric columns are collected, to fit the practice model on the driver; the executors
  apply it (`ally.feedback.results`, as the web app does) to their partitions and write
  `sessions` and `episodes` from there. Where rows name groups, each group's meetings are
  found first on an executor of their own, from its members' rows in whatever partitions they
  are, and set beside the rows (`ally.engine.groups`); only the meetings' and members' numbers
  reach the driver, for the `groups` table's ICCs over the run;
- writing: each output is a folder of CSV or Parquet part files (Spark's way), with a header
  on every CSV part.

INPUT and --out may be any path Spark reads and writes (local, hdfs://, s3a://...).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from ibis.expr.types import Table, Value

from ally.change.goals import GOALS
from ally.change.goals import MEASURE as GOAL_MEASURE
from ally.engine import columns as col
from ally.engine.administrations import (
    CORE_COLUMNS,
    DUPLICATES,
    EARLIEST,
    KEYS,
    Pulled,
    episodes_table,
    group_input,
    ratings_of_goals,
    series_counts,
    sessions_table,
    sort_keys,
    sorted_rows,
    with_earliest,
)
from ally.engine.backends import Applied
from ally.engine.errors import AnalysisError
from ally.engine.groups import (
    GROUP_COLUMNS,
    GROUP_ROW,
    GROUPS,
    MEMBER_COLUMNS,
    groups_table,
    meetings,
    with_group_columns,
)
from ally.engine.options import Options
from ally.engine.read import MISSING, Input, check_names, header_names, not_encoded
from ally.engine.rows import item_numbers
from ally.engine.scores import score_batch, subscale_ids
from ally.feedback.alliance import RuptureConfig
from ally.feedback.practice import MeasureParams, PracticeModel
from ally.feedback.results import Administrations, results

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

INSTALL = (
    "--engine spark needs PySpark and Java 17 or later: install Ally with its spark extra "
    "(pip install 'ally[spark]'), or run it with spark-submit on a cluster that has PySpark."
)

# The strptime codes --date-format takes on Spark, as Spark's datetime patterns.
JAVA_PATTERNS = {
    "%d": "dd",
    "%m": "MM",
    "%Y": "yyyy",
    "%y": "yy",
    "%b": "MMM",
    "%B": "MMMM",
    "%H": "HH",
    "%M": "mm",
    "%S": "ss",
    "%j": "DDD",
    "%%": "%",
}

OUT_OF_MEMORY = ("java.lang.OutOfMemoryError", "Java heap space", "GC overhead limit exceeded")
"""What the JVM says when its heap is too small."""

SHUT_DOWN = ("SparkContext was shut down", "Answer from Java side is empty", "Py4JNetworkError")
"""What a job, or py4j, says when the JVM stopped under it: where its heap ran out, the error
seen on the Python side says only this (the heap's error is in Spark's own log lines)."""

FIXED = {
    "spark.sql.session.timeZone": "UTC: dates are read and written as given",
    "spark.sql.execution.arrow.pyspark.enabled": "true: rows reach the core in Arrow batches",
}
"""Settings Ally's results rely on, which --spark-conf may not change."""

MORE_MEMORY = (
    "The practice model is fitted on the driver from every scored row's numbers, and local "
    "Spark runs in the driver's memory (half the machine's unless given): give more with "
    "--spark-conf spark.driver.memory=16g, or on a cluster spark-submit's --driver-memory and "
    "--executor-memory."
)

LOCAL_PARTITIONS = 4
"""Partitions of a shuffle on local Spark."""

PARTITION_ROWS = 500_000
"""Good rows in a partition the model is applied to at once, in one Python worker: its rows,
the core's columns and their results take a few hundred MB there."""

# Spark writes CSV as RFC 4180 with these: a quote is doubled, values keep their spaces.
CSV_WRITE = {
    "header": "true",
    "quote": '"',
    "escape": '"',
    "ignoreLeadingWhiteSpace": "false",
    "ignoreTrailingWhiteSpace": "false",
    "nullValue": "",
    "emptyValue": '""',
    "lineSep": "\n",
}


def session(master: str | None, settings: Iterable[tuple[str, str]] = ()) -> SparkSession:
    """The Spark session of the run: the one spark-submit made, or a new one on `master` with
    `settings` (--spark-conf)."""
    try:
        from pyspark import SparkContext
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise AnalysisError(INSTALL) from exc
    builder = SparkSession.builder.appName("ally analyze")
    if master:
        builder = builder.master(master)
    if master is None or master.startswith("local"):
        # Local Spark's Python workers run Ally from this interpreter's environment (spark-submit
        # sets PYSPARK_PYTHON from spark.pyspark.python for a cluster's), and local shuffles
        # have a few partitions per core, not a cluster's 200.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if master is not None and master.startswith("local"):
        builder = builder.config("spark.sql.shuffle.partitions", str(LOCAL_PARTITIONS))
        builder = builder.config("spark.ui.enabled", "false")
    settings = list(settings)
    for key, _ in settings:
        if key in FIXED:
            raise AnalysisError(
                f"--spark-conf {key}: Ally sets it to {FIXED[key]}, so it cannot be changed; "
                "leave it out."
            )
    memory = driver_memory(
        settings, os.environ, SparkContext._active_spark_context is not None, _machine_memory()
    )
    if memory is not None:
        builder = builder.config("spark.driver.memory", memory)
    builder = (
        builder.config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
    )
    for key, value in settings:  # the user's last: theirs win over Ally's defaults
        builder = builder.config(key, value)
    try:
        found = builder.getOrCreate()
    except Exception as exc:  # Java missing or the master unreachable: said as Spark says it.
        raise AnalysisError(f"Spark could not be started ({_first_line(exc)}). {INSTALL}") from exc
    found.sparkContext.setLogLevel("ERROR")
    return found


def driver_memory(
    settings: Iterable[tuple[str, str]],
    environ: Mapping[str, str],
    running: bool,
    machine_bytes: int | None,
) -> str | None:
    """The driver's memory Ally gives a JVM it starts itself: half the machine's, in whole GB
    and at least Spark's default 1 GB, since the scored rows' numbers are collected on the
    driver for the practice model (and on local Spark the driver is the executor too). None
    where the memory is not Ally's to set: a session already running, spark-submit's JVM (it
    passes its port), a driver memory given, or a machine whose memory is unknown."""
    given = environ.get("PYSPARK_SUBMIT_ARGS", "")
    if (
        running
        or "PYSPARK_GATEWAY_PORT" in environ
        or "SPARK_DRIVER_MEMORY" in environ
        or any(key == "spark.driver.memory" for key, _ in settings)
        or "--driver-memory" in given
        or "spark.driver.memory" in given
        or _in_spark_defaults(environ, "spark.driver.memory")
        or machine_bytes is None
    ):
        return None
    return f"{max(1, machine_bytes // 2 // 2**30)}g"


def _in_spark_defaults(environ: Mapping[str, str], key: str) -> bool:
    """Whether Spark's own defaults file (under SPARK_CONF_DIR, or SPARK_HOME's conf) sets
    `key`."""
    folders = [environ.get("SPARK_CONF_DIR", "")]
    folders += [str(Path(environ["SPARK_HOME"]) / "conf")] if "SPARK_HOME" in environ else []
    for folder in filter(None, folders):
        try:
            text = (Path(folder) / "spark-defaults.conf").read_text(encoding="utf-8")
        except OSError:
            continue
        if any(line.split(maxsplit=1)[:1] == [key] for line in text.splitlines()):
            return True
    return False


CGROUP_LIMIT = "/sys/fs/cgroup/memory.max"
"""A container's memory limit (cgroup v2): "max" or a number of bytes."""


def _machine_memory() -> int | None:
    """The memory this process may use: the machine's, or its container's limit if lower."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system that says
        return None
    try:
        with open(CGROUP_LIMIT, encoding="ascii") as limit:
            given = limit.read().strip()
    except OSError:
        return memory
    return min(memory, int(given)) if given.isdigit() else memory


def java_pattern(date_format: str) -> str:
    """A strptime format as Spark's datetime pattern; letters and quotes are quoted."""
    out, at = [], 0
    while at < len(date_format):
        code = date_format[at : at + 2]
        if code.startswith("%"):
            if code not in JAVA_PATTERNS:
                raise AnalysisError(
                    f"--date-format {date_format!r}: {code} is not a code Ally reads on Spark "
                    f"({', '.join(k for k in JAVA_PATTERNS if k != '%%')}); e.g. %d.%m.%Y "
                    "for 22.11.2026."
                )
            out.append(JAVA_PATTERNS[code])
            at += 2
            continue
        char = date_format[at]
        out.append(f"'{char}'" if char.isalpha() else "''" if char == "'" else char)
        at += 1
    return "".join(out)


@ibis.udf.scalar.builtin(name="try_to_timestamp")  # type: ignore[untyped-decorator]
def _try_to_timestamp(text: str, pattern: str) -> dt.datetime:  # type: ignore[empty-body]
    """Spark's to_timestamp, null where the text does not match the pattern."""


def uri(given: str) -> str:
    """A location as Spark reads it: a URL as it is, a local path made absolute."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", given):
        return given
    return str(Path(given).expanduser().absolute())


def _split(
    batches: Iterable[pa.RecordBatch], fields: int, delimiter: str
) -> Iterator[pa.RecordBatch]:
    """Lines (`line`, `text`) split into the header's fields, as text or null (an empty field or
    NA), with the reason a line is not a row of the header's shape; blank lines are left out."""
    missing = set(MISSING)
    for batch in batches:
        lines = batch.column("line").to_pylist()
        texts = batch.column("value").to_pylist()
        kept_lines: list[int] = []
        values: list[list[str | None]] = [[] for _ in range(fields)]
        reasons: list[str | None] = []
        rules: list[str | None] = []
        for line, text in zip(lines, texts, strict=True):
            if text is None or text == "":
                continue
            reason = rule = None
            try:
                row = next(
                    csv.reader(
                        [text], delimiter=delimiter, quotechar='"', doublequote=True, strict=True
                    )
                )
            except csv.Error:
                row = []
                reason = (
                    "a quoted value is not closed: its closing quote is missing or followed "
                    'by more text (a quote inside a value is written twice, "")'
                )
                rule = "a quoted value not closed"
            if reason is None and len(row) > fields:
                reason = (
                    f"the line has {len(row)} fields, but the header has {fields}; a value "
                    "holding the delimiter needs quotes"
                )
                rule = "more fields than the header"
            elif reason is None and len(row) < fields:
                word = "field" if len(row) == 1 else "fields"
                reason = f"the line has {len(row)} {word}, but the header has {fields}"
                rule = "fewer fields than the header"
            if reason is not None:
                row = []
            kept_lines.append(line)
            reasons.append(reason)
            rules.append(rule)
            for k in range(fields):
                value = row[k] if k < len(row) else None
                values[k].append(None if value is None or value in missing else value)
        arrays = [pa.array(kept_lines, pa.int64())]
        arrays += [pa.array(v, pa.string()) for v in values]
        arrays += [pa.array(reasons, pa.string()), pa.array(rules, pa.string())]
        names = [col.LINE, *(f"_c{k}" for k in range(fields)), "_reason", "_rule"]
        yield pa.RecordBatch.from_arrays(arrays, names=names)


def _scores(
    batches: Iterable[pa.RecordBatch], params: Mapping[str, MeasureParams], items: list[int]
) -> Iterator[pa.RecordBatch]:
    """Each batch of typed rows with its scores beside it (`ally.engine.scores`)."""
    for batch in batches:
        found = score_batch(batch, params, items)
        extra = [n for n in found.schema.names if n != col.LINE]
        yield pa.RecordBatch.from_arrays(
            [*batch.columns, *(found.column(n) for n in extra)],
            names=[*batch.schema.names, *extra],
        )


# The model, on the executors.


def _whole(batches: Iterable[pa.RecordBatch]) -> pa.Table | None:
    """A partition's rows at once: its episodes are whole, so it is applied as one batch."""
    found = list(batches)
    if not found or not sum(b.num_rows for b in found):
        return None
    return pa.Table.from_batches(found)


def _batch(
    schema: pa.Schema, columns: Mapping[str, pa.Array | pa.ChunkedArray], n: int
) -> Iterator[pa.RecordBatch]:
    """`n` rows of `schema` with `columns` given and the others empty."""
    arrays = [
        columns[f.name].cast(f.type) if f.name in columns else pa.nulls(n, f.type) for f in schema
    ]
    yield from pa.Table.from_arrays(arrays, schema=schema).to_batches()


def _core_schema(subscales: Sequence[str]) -> pa.Schema:
    """Pass one's rows: each good row's core columns, with its partition and its episode's
    number within it, or a duplicate as rejected (`dup_` and DUPLICATES' columns)."""
    numbers = [("_part", pa.int32()), ("episode", pa.int64()), ("measure", pa.int64())]
    numbers += [("rater", pa.int64()), ("session", pa.int64()), ("day", pa.float64())]
    numbers += [("score", pa.float64()), ("ending", pa.int64())]
    numbers += [(col.subscale_column(x), pa.float64()) for x in subscales]
    return pa.schema([*numbers, *((f"dup_{f.name}", f.type) for f in DUPLICATES)])


def _no_goal_ratings(kept: np.ndarray) -> np.ndarray:
    return np.full((int(kept.sum()), GOALS), np.nan)


def _core_part(
    batches: Iterable[pa.RecordBatch],
    subscales: Sequence[str],
    measure_ids: tuple[str, ...],
    numbers: bool,
) -> Iterator[pa.RecordBatch]:
    """A partition's good rows as the core's numeric columns (if `numbers`), and its
    duplicates."""
    from pyspark import TaskContext

    table = _whole(batches)
    if table is None:
        return
    pulled = sorted_rows(table, subscales, _no_goal_ratings, measure_ids)
    a = pulled.administrations
    schema = _core_schema(subscales)
    task = TaskContext.get()
    assert task is not None  # on an executor
    part = task.partitionId()
    if numbers:
        core = {
            "_part": pa.array(np.full(len(a), part, dtype=np.int32)),
            "episode": pa.array(a.episode),
            "measure": pa.array(a.measure),
            "rater": pa.array(a.rater),
            "session": pa.array(a.session),
            "day": pa.array(a.day),
            "score": pa.array(a.score),
            "ending": pa.array(a.ending),
            **{col.subscale_column(x): pa.array(a.subscales[x]) for x in subscales},
        }
        yield from _batch(schema, core, len(a))
    d = pulled.duplicates
    if d.num_rows:
        yield from _batch(schema, {f"dup_{n}": d.column(n) for n in d.column_names}, d.num_rows)


def _administrations(
    core: pa.Table, subscales: Sequence[str], measure_ids: tuple[str, ...]
) -> Administrations:
    """Pass one's good rows, collected in partition order, as the core's columns: episodes
    are numbered across partitions as the sort orders them."""

    def ints(name: str) -> np.ndarray:
        return np.asarray(core.column(name).to_numpy(), dtype=np.int64)

    def floats(name: str) -> np.ndarray:
        filled = pc.fill_null(core.column(name), np.nan)
        return np.asarray(filled.to_numpy(), dtype=np.float64)

    part, local = ints("_part"), ints("episode")
    new = np.ones(len(part), dtype=np.bool_)
    new[1:] = (part[1:] != part[:-1]) | (local[1:] != local[:-1])
    return Administrations(
        episode=np.cumsum(new, dtype=np.int64) - 1,
        measure=ints("measure"),
        measure_ids=measure_ids,
        rater=ints("rater"),
        session=ints("session"),
        day=floats("day"),
        score=floats("score"),
        subscales={x: floats(col.subscale_column(x)) for x in subscales},
        ending=ints("ending"),
    )


def _applied_part(
    batches: Iterable[pa.RecordBatch], how: _Applying, table: int
) -> Iterator[pa.RecordBatch]:
    """A partition's `sessions` rows (`table` 0) or `episodes` rows (1, with each series'
    earliest session for the summary)."""
    rows = _whole(batches)
    if rows is None:
        return
    model = PracticeModel.from_json(how.model, "the run's practice model")
    yield from _applied_tables(_partition(rows, how), model, how)[table].to_batches()


def _partition(rows: pa.Table, how: _Applying) -> Pulled:
    """A partition's rows (whole episodes, sorted) as the core's columns, goals included."""
    on_goals = rows.filter(pc.fill_null(pc.equal(rows.column(col.MEASURE), GOAL_MEASURE), False))
    return sorted_rows(
        rows,
        how.subscales,
        lambda kept: ratings_of_goals(on_goals, how.goal_numbers, kept),
        how.measure_ids,
    )


def _applied_tables(
    pulled: Pulled, model: PracticeModel, how: _Applying
) -> tuple[pa.Table, pa.Table]:
    """`sessions` and `episodes` of the rows, the episodes with their earliest session."""
    found = results(model, pulled.administrations, feedback=how.feedback)
    given = pulled.passed
    parts = given.select(GROUP_ROW.names) if GROUP_ROW.names[0] in given.column_names else None
    sessions = with_group_columns(sessions_table(pulled, found.sessions), parts)
    episodes = episodes_table(pulled, found.series, how.goal_threshold)
    return sessions, with_earliest(episodes, pulled, found.series)


def _group_input_part(
    batches: Iterable[pa.RecordBatch], how: _Applying
) -> Iterator[pa.RecordBatch]:
    """A partition's rows that name a group (duplicates left out), as `sessions` columns."""
    rows = _whole(batches)
    if rows is None:
        return
    at, found = group_input(_partition(rows, how))
    if len(at):
        yield from found.to_batches()


MEETINGS = pa.schema(
    [
        ("kind", pa.string()),
        *(f for f in GROUPS if f.name not in ("icc1", "icc2")),
        (col.CLIENT, pa.string()),
        (col.EPISODE, pa.string()),
        (col.SESSION, pa.int64()),
        ("value", pa.float64()),
        *(f for f in GROUP_ROW if f.name != "group_session"),
    ]
)
"""What a group's meetings give (`ally.engine.groups.Meetings`), as one table: each row's part
in its group (kind "row"), each meeting's numbers ("meeting") and each member's means
("member")."""


def _group_meetings(
    frame: pd.DataFrame, check_ins: frozenset[str], config: RuptureConfig
) -> pd.DataFrame:
    """One group's meetings, from its rows in any order: sorted as `sessions` is first, so that
    each member's series is read in session order, as by the DuckDB engine (the sums are
    exactly rounded, so their order does not matter)."""
    ordered = frame.sort_values([*KEYS, col.SESSION], kind="stable", ignore_index=True)
    found = meetings(ordered, check_ins, config)
    identity = ordered[[*KEYS, col.SESSION, col.GROUP]]
    parts = [
        pd.concat([identity, found.rows], axis=1).assign(kind="row"),
        found.stats.assign(kind="meeting"),
        found.members.assign(kind="member"),
    ]
    out = pd.concat(parts, ignore_index=True).reindex(columns=MEETINGS.names)
    for name in (col.SESSION, "group_session", "n", "ruptures"):
        out[name] = out[name].astype("Int64")
    # As Python objects: Spark turns pandas' Arrow-backed text into Arrow chunks it does not
    # take.
    for field in MEETINGS:
        if pa.types.is_string(field.type):
            out[field.name] = out[field.name].astype(object)
    return out


@dataclass(frozen=True)
class _Applying:
    """What the executors need to apply the model to a partition."""

    model: str
    """The practice model as JSON (`PracticeModel.to_json`)."""
    subscales: tuple[str, ...]
    measure_ids: tuple[str, ...]
    goal_numbers: tuple[int, ...]
    feedback: bool
    goal_threshold: float
    grouped: bool
    """Whether rows name groups, whose meetings are then found first (`Spark._grouped`)."""


class Spark:
    """Ally's stages on a Spark session, through Ibis's PySpark backend."""

    streams = False

    def __init__(self, options: Options) -> None:
        if options.encoding != "utf-8":
            raise AnalysisError(
                f"--encoding {options.encoding}: on Spark the input is read as UTF-8. Convert "
                f"it first (e.g. iconv -f {options.encoding} -t utf-8), or leave out "
                "--engine spark."
            )
        self.date_pattern = (
            java_pattern(options.date_format) if options.date_format is not None else None
        )
        self.session = session(options.spark_master, options.spark_conf)
        self.backend = ibis.pyspark.connect(self.session)
        self.frames: dict[str, DataFrame] = {}
        self.applying = _Applying("", (), (), (), True, 0.0, False)
        """What `pull` found that applying the model on the executors needs."""

    # Reading.

    def read(self, options: Options) -> Input:
        location = uri(options.input_location or str(options.input))
        local = "://" not in options.input_location
        if local and not options.input.exists():
            raise AnalysisError(f"{options.input}: no such file. Check the path.")
        if location.lower().rstrip("/").endswith(".parquet"):
            return self._read_parquet(location)
        if local and options.input.is_dir():
            raise AnalysisError(
                f"{options.input}: is a folder; give the CSV or Parquet file inside it."
            )
        return self._read_csv(location, options.delimiter)

    def _numbered(self, frame: DataFrame) -> DataFrame:
        """`line`: each row's place in the file from 1. Spark reads one file's splits in file
        order, each split a partition, so a row's place is its partition's offset (the rows of
        the partitions before it) plus its place within the partition."""
        from pyspark.sql import functions as fn

        tagged = frame.select(
            fn.spark_partition_id().alias("_part"),
            fn.monotonically_increasing_id().alias("_id"),
            "*",
        ).persist()
        counts = sorted(tagged.groupBy("_part").count().collect())
        offsets, total = [], 0
        for part, rows in counts:
            offsets.append((int(part), total))
            total += int(rows)
        table = self.session.createDataFrame(offsets or [(0, 0)], "_part int, _offset long")
        # monotonically_increasing_id: the partition in the upper 31 bits, the row below them.
        place = fn.col("_id") - fn.shiftleft(fn.col("_part").cast("long"), 33)
        numbered = tagged.join(fn.broadcast(table), "_part").withColumn(
            col.LINE, fn.col("_offset") + place + 1
        )
        return numbered.drop("_part", "_id", "_offset")

    def _read_parquet(self, location: str) -> Input:
        try:
            frame = self.session.read.parquet(location)
        except Exception as exc:
            raise AnalysisError(
                f"{location}: cannot be read as Parquet ({_first_line(exc)}). "
                "Give a CSV file with a header row, or a Parquet file."
            ) from exc
        check_names(location, frame.columns)
        numbered = self._numbered(frame)
        rows = numbered.select(col.LINE, *(f"`{c}`" for c in frame.columns))
        return Input(self._view("ally_input", rows), self._unreadable())

    def _read_csv(self, location: str, delimiter: str) -> Input:
        from pyspark.sql import functions as fn
        from pyspark.sql.pandas.types import from_arrow_schema

        try:
            lines = self.session.read.text(location)
            lines.schema  # noqa: B018 (the path is checked here)
        except Exception as exc:
            raise AnalysisError(
                f"{location}: cannot be read ({_first_line(exc)}). Check the path."
            ) from exc
        numbered = self._numbered(lines).persist()
        first = numbered.filter(fn.col(col.LINE) == 1).select("value").collect()
        if not first:
            raise AnalysisError(
                f"{location}: is empty. Give a CSV file whose first line names the columns "
                "(client, session, measure, ...) and whose other lines are the rows."
            )
        text = str(first[0][0] or "").removeprefix("\ufeff")
        undecoded = (
            numbered.filter(fn.col("value").contains("\ufffd")).agg(fn.min(col.LINE)).first()
        )
        if undecoded is not None and undecoded[0] is not None:
            raise not_encoded(location, "utf-8", int(undecoded[0]))
        header = next(
            csv.reader([text], delimiter=delimiter, quotechar='"', doublequote=True), None
        )
        names = header_names(location, header, delimiter)
        fields = len(names)
        arrow_schema = pa.schema(
            [
                (col.LINE, pa.int64()),
                *((f"_c{k}", pa.string()) for k in range(fields)),
                ("_reason", pa.string()),
                ("_rule", pa.string()),
            ]
        )
        body = numbered.filter(fn.col(col.LINE) > 1).select(col.LINE, "value")
        split = body.mapInArrow(
            lambda batches: _split(batches, fields, delimiter), from_arrow_schema(arrow_schema)
        ).persist()
        rows = split.filter(fn.col("_reason").isNull()).select(
            col.LINE, *(fn.col(f"_c{k}").alias(name) for k, name in enumerate(names))
        )
        unreadable = split.filter(fn.col("_reason").isNotNull()).select(
            col.LINE, fn.col("_reason").alias("reason"), fn.col("_rule").alias("rule")
        )
        self.frames["ally_lines"] = numbered
        self.frames["ally_split"] = split
        return Input(self._view("ally_rows", rows), self._view("ally_unreadable", unreadable))

    def _unreadable(self) -> Table:
        empty = self.session.createDataFrame([], "line long, reason string, rule string")
        return self._view("ally_unreadable", empty)

    # Stages.

    def frame(self, table: Table) -> DataFrame:
        """An Ibis expression as a Spark DataFrame."""
        self.backend._run_pre_execute_hooks(table)
        return self.session.sql(self.backend.compile(table))

    def _view(self, name: str, frame: DataFrame) -> Table:
        frame.createOrReplaceTempView(name)
        self.frames[name] = frame
        return self.backend.table(name)

    def parse_date(self, text: Value, date_format: str) -> Value:
        assert self.date_pattern is not None
        return _try_to_timestamp(text, self.date_pattern).cast("date")

    def stored(self, name: str, table: Table) -> Table:
        return self._view(name, self.frame(table).persist())

    def drop(self, name: str) -> None:
        frame = self.frames.pop(name, None)
        if frame is not None:
            frame.unpersist()
            self.session.catalog.dropTempView(name)

    def checked(
        self,
        name: str,
        typed: Table,
        params: Mapping[str, MeasureParams],
        rows: Callable[[Table], Table],
    ) -> Table:
        from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

        frame = self.frame(typed)
        items = item_numbers(typed)
        schema = to_arrow_schema(frame.schema)
        added = [(col.SCORE_VALUE, pa.float64())]
        added += [(col.subscale_column(s), pa.float64()) for s in subscale_ids(params)]
        added += [("critical", pa.bool_()), ("measure_reason", pa.string())]
        out = pa.schema([*schema, *added])
        scored = frame.mapInArrow(
            lambda batches: _scores(batches, params, items), from_arrow_schema(out)
        )
        found = self.stored(name, rows(self._view("ally_scored", scored)))
        self.drop("ally_scored")
        return found

    # The model.

    def pull(self, rows: Table, subscales: Sequence[str], fit: bool = True) -> Pulled:
        """The good rows as the core's columns: sorted into partitions of whole episodes, of
        which only the numeric columns the fit needs are collected, and none without a fit
        (`Pulled.administrations` is then empty)."""
        from pyspark.sql import functions as fn
        from pyspark.sql.pandas.types import from_arrow_schema

        frame = self.frame(rows)
        # As `ally.engine.groups.named`: a value other than empty or whitespace.
        named = fn.length(fn.regexp_replace(fn.col(col.GROUP).cast("string"), r"\s", "")) > 0
        grouped = bool(frame.filter(named).limit(1).count())
        measures = frame.select(col.MEASURE).distinct().collect()
        measure_ids = tuple(sorted(str(r[0]) for r in measures if r[0] is not None))
        count = frame.count()
        parts = max(self.session.sparkContext.defaultParallelism, -(-count // PARTITION_ROWS))
        goal_numbers = tuple(
            n for n in range(1, GOALS + 1) if col.goal_rating_column(n) in rows.columns
        )
        kept = [*CORE_COLUMNS, *(col.subscale_column(x) for x in subscales), col.LINE]
        kept += [col.goal_rating_column(n) for n in goal_numbers]
        ordered = (
            frame.select(*kept)
            .repartitionByRange(parts, col.CLIENT, col.EPISODE)
            .sortWithinPartitions(*sort_keys(True))
            .persist()
        )
        self.frames["ally_ordered"] = ordered
        names = tuple(subscales)
        collected = ordered.mapInArrow(
            lambda batches: _core_part(batches, names, measure_ids, fit),
            from_arrow_schema(_core_schema(names)),
        ).toArrow()
        repeated = collected.column("dup_line").is_valid()
        duplicates = collected.filter(repeated).select([f"dup_{f.name}" for f in DUPLICATES])
        core = collected.filter(pc.invert(repeated)) if duplicates.num_rows else collected
        del collected  # not copied twice
        self.applying = _Applying("", names, measure_ids, goal_numbers, True, 0.0, grouped)
        return Pulled(
            _administrations(core, names, measure_ids),
            None,
            names,
            np.zeros(0, dtype=np.int64),
            np.zeros((0, GOALS)),
            duplicates.rename_columns([f.name for f in DUPLICATES]).cast(DUPLICATES),
        )

    def apply(
        self, model: PracticeModel, pulled: Pulled, options: Options, check_ins: frozenset[str]
    ) -> Applied | None:
        """The model applied on the executors to each partition of whole episodes (`pull`),
        which write `sessions` and `episodes`; None where the rows were collected."""
        from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

        if pulled.rows is not None:
            return None
        ordered = self.frames["ally_ordered"]
        how = replace(
            self.applying,
            model=model.to_json(),
            feedback=options.feedback,
            goal_threshold=options.goal_threshold,
        )
        groups = None
        # The sessions' rows, with each one's part in its group beside it where rows name
        # groups.
        parts = [ordered, ordered]
        if how.grouped:
            parts[0], groups = self._grouped(ordered, how, check_ins, model.ruptures)
        # The outputs' columns: those of a partition without rows.
        schemas = [
            _applied_tables(
                _partition(to_arrow_schema(part.schema).empty_table(), how), model, how
            )[table].schema
            for table, part in enumerate(parts)
        ]
        # Each output is made by its own pass over the partitions (the core's results cost
        # less than keeping a table of both outputs' columns); only the episodes are kept, for
        # the summary's numbers.
        made = [
            part.mapInArrow(partial(_applied_part, how=how, table=table), from_arrow_schema(schema))
            for table, (part, schema) in enumerate(zip(parts, schemas, strict=True))
        ]
        made[1] = made[1].persist()
        self.frames["ally_episodes"] = made[1]
        outputs = []
        for frame, name in ((made[0], "sessions"), (made[1].drop(EARLIEST), "episodes")):
            outputs.append(self.location(options, f"{name}.{options.format}"))
            self._write(frame, outputs[-1])
        if groups is not None:
            outputs.append(self.location(options, f"groups.{options.format}"))
            self.write(groups, outputs[-1])
        self.drop("ally_ordered")  # both passes are written; the episodes are kept
        self.drop("ally_meetings")
        return Applied(outputs, series_counts(self._view("ally_series", made[1])).to_pyarrow())

    def _grouped(
        self,
        ordered: DataFrame,
        how: _Applying,
        check_ins: frozenset[str],
        config: RuptureConfig,
    ) -> tuple[DataFrame, pa.Table | None]:
        """`ordered` with each row's part in its group beside it (GROUP_ROW), in partitions of
        whole episodes again, and the `groups` table (None without meetings). The rows that
        name groups are found on the executors, and each group's meetings on one of them
        (`ally.engine.groups`); only the meetings' and the members' numbers come to the driver,
        for the ICCs over the run."""
        from pyspark.sql import functions as fn
        from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

        nothing = _partition(to_arrow_schema(ordered.schema).empty_table(), how)
        given = group_input(nothing)[1].schema
        members = ordered.mapInArrow(partial(_group_input_part, how=how), from_arrow_schema(given))
        found = members.groupBy(col.GROUP).applyInPandas(
            partial(_group_meetings, check_ins=check_ins, config=config),
            from_arrow_schema(MEETINGS),
        )
        found = found.persist()
        self.frames["ally_meetings"] = found

        def kind(name: str, columns: Sequence[str]) -> pd.DataFrame:
            chosen = found.filter(fn.col("kind") == name).select(*columns)
            frame: pd.DataFrame = chosen.toArrow().to_pandas()
            return frame

        stats = kind("meeting", [c for c in GROUP_COLUMNS if c not in ("icc1", "icc2")])
        # None where the rows named groups only as Java reads blanks, or only on duplicates:
        # DuckDB writes no `groups` then either.
        groups = groups_table(stats, kind("member", MEMBER_COLUMNS)) if len(stats) else None
        keys = [*KEYS, col.SESSION]
        parts = found.filter(fn.col("kind") == "row").select(
            *keys[:-1], fn.col(col.SESSION).alias(col.SESSION_NUMBER), *GROUP_ROW.names
        )
        joined = (
            ordered.join(parts, [*KEYS, col.SESSION_NUMBER], "left")
            .repartitionByRange(ordered.rdd.getNumPartitions(), col.CLIENT, col.EPISODE)
            .sortWithinPartitions(*sort_keys(True))
        )
        return joined, groups

    # Writing.

    def location(self, options: Options, name: str) -> str:
        return uri(options.out_location or str(options.out)).rstrip("/") + "/" + name

    def write(self, table: pa.Table, location: str) -> None:
        self._write(self.session.createDataFrame(table), location)

    def write_rows(self, table: Table, location: str) -> None:
        self._write(self.frame(table), location)

    def _write(self, frame: DataFrame, location: str) -> None:
        writer = frame.write.mode("overwrite")
        if location.endswith(".parquet"):
            writer.parquet(location)
        else:
            writer.options(**CSV_WRITE).csv(location)

    def close(self) -> None:
        """Free the run's stored stages; the session stays for spark-submit or the caller. A
        JVM that ended (out of memory) has nothing left to free."""
        for name in list(self.frames):
            try:
                self.drop(name)
            except Exception:  # the JVM is gone: the run's own error is the one to report
                self.frames.pop(name, None)

    def explain(self, error: Exception) -> AnalysisError | None:
        return out_of_memory(error)


def out_of_memory(error: BaseException) -> AnalysisError | None:
    """What to do when the JVM's heap was too small or the JVM stopped, from the error or any
    error behind it."""
    said: list[str] = []
    cause: BaseException | None = error
    while cause is not None and len(said) < 10:
        said.append(type(cause).__name__ + ": " + _said(cause))
        cause = cause.__cause__ or cause.__context__
    if any(sign in text for text in said for sign in OUT_OF_MEMORY):
        return AnalysisError(f"Spark ran out of memory (Java heap space). {MORE_MEMORY}")
    if any(sign in text for text in said for sign in SHUT_DOWN):
        return AnalysisError(
            "Spark stopped during the run (its context was shut down), most often because its "
            f"memory ran out; Spark's own lines above say why. {MORE_MEMORY}"
        )
    return None


def _said(error: BaseException) -> str:
    """An error's text without asking the JVM: py4j's error fetches its Java message from the
    JVM, which may have stopped."""
    given = getattr(error, "errmsg", None)
    if isinstance(given, str):
        return given
    try:
        return str(error)
    except Exception:  # the JVM is gone: its message with it
        return ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["Spark", "driver_memory", "java_pattern", "out_of_memory", "session"]
