"""From the engine's tables to the core's columns and back.

The scored rows leave DuckDB once, sorted by client, episode, measure, rater and session, as the
numpy columns `ally.feedback.results` takes, which is applied a slice of whole episodes at a
time; the results return as Arrow columns beside the identifiers, which never leave Arrow, and
are written slice by slice (Parquet by pyarrow, CSV by DuckDB).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from typing import TypeVar

import ibis
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from ibis.expr.types import Table

from ally.change.goals import GOALS, goal_course
from ally.change.goals import MEASURE as GOAL_MEASURE
from ally.change.goals import THRESHOLD as GOAL_THRESHOLD
from ally.change.series import Ints, Segments, starts_of
from ally.engine import columns as col
from ally.engine.errors import AnalysisError
from ally.engine.groups import (
    GROUP_ROW,
    group_rows,
    groups_table,
    meetings,
    named,
    with_group_columns,
)
from ally.feedback.alliance import RuptureConfig
from ally.feedback.dropout_features import FEATURES, MeasureFacts, SessionRows, features_of
from ally.feedback.practice import PracticeModel
from ally.feedback.results import (
    ENDINGS,
    RATERS,
    Administrations,
    SeriesResults,
    SessionResults,
    results,
)

KEYS = (col.CLIENT, col.EPISODE, col.MEASURE, col.RATER)
"""What names a series: its rows are one client's answers to one measure, by one rater, in one
episode."""

DUPLICATES = pa.schema(
    [("line", pa.int64()), ("measure", pa.string()), ("reason", pa.string()), ("rule", pa.string())]
)
"""The rejected rows' columns, as duplicates are reported."""
DUPLICATE_RULE = "duplicate of an earlier row (same client, episode, session, measure and rater)"


@dataclass(frozen=True)
class Pulled:
    """The scored rows as the core's columns, and the Arrow columns that pass through."""

    administrations: Administrations
    rows: pa.Table | None
    """client, episode, clinician, group, date, measure, rater, critical: one row each; the text
    columns may be dictionary columns, which `text` reads as text. None where the rows stay on
    the engine's executors, which apply the model there (`ally.engine.spark.Spark.apply`)."""
    subscales: tuple[str, ...]
    goal_rows: npt.NDArray[np.int64]
    """The goal-progress rows, in order."""
    goal_ratings: npt.NDArray[np.float64]
    """The goals' ratings of each goal-progress row (goal_rows × goals, `ally.change.goals`):
    its item answers. Other rows rate no goals, so they are not kept."""
    duplicates: pa.Table = field(default_factory=lambda: DUPLICATES.empty_table())
    """The rows left out as duplicates (line, measure, reason, rule): a second row for the same
    client, episode, session, measure and rater, which repeats the earliest, not updates it."""

    @property
    def passed(self) -> pa.Table:
        """`rows`, which only an engine that applies the model here has."""
        if self.rows is None:
            raise ValueError("the rows stay on the engine's executors")
        return self.rows


def _floats(column: pa.ChunkedArray) -> npt.NDArray[np.float64]:
    filled = pc.fill_null(column.cast(pa.float64()), np.nan)
    return np.asarray(filled.to_numpy(), dtype=np.float64)


def _ints(column: pa.ChunkedArray) -> npt.NDArray[np.int64]:
    return np.asarray(column.cast(pa.int64()).to_numpy(), dtype=np.int64)


def ratings_of_goals(
    on_goals: pa.Table, numbers: Sequence[int], kept: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float64]:
    """The goals' ratings of the goal-progress rows `on_goals` (in order, with their goalN_rating
    columns): `kept` says which of them are not duplicates."""
    ratings = np.full((int(kept.sum()), GOALS), np.nan)
    for number in numbers:
        if number <= GOALS and col.goal_rating_column(number) in on_goals.column_names:
            column = on_goals.column(col.goal_rating_column(number))
            ratings[:, number - 1] = _floats(column)[kept]
    return ratings


def _fetched_goal_ratings(
    ordered: Table, numbers: Sequence[int]
) -> Callable[[npt.NDArray[np.bool_]], npt.NDArray[np.float64]]:
    """The goal ratings of `ordered` (the sorted good rows), fetched alone when asked for: on
    every other row they are empty."""

    def ratings(kept: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
        wanted = [n for n in numbers if n <= GOALS]
        if not kept.any() or not wanted:
            return np.full((int(kept.sum()), GOALS), np.nan)
        on_goals = ordered.filter(ordered[col.MEASURE] == GOAL_MEASURE)
        table = on_goals.select(*(col.goal_rating_column(n) for n in wanted)).to_pyarrow()
        return ratings_of_goals(table, wanted, kept)

    return ratings


def _as_before(table: pa.Table, keys: Sequence[str]) -> npt.NDArray[np.bool_]:
    """Each row whose `keys` all equal the row's before it (an empty key equals nothing)."""
    same = np.zeros(table.num_rows, dtype=np.bool_)
    if table.num_rows < 2:
        return same
    same[1:] = True
    for key in keys:
        same &= _same_as_before(table.column(key))
    return same


def _same_as_before(column: pa.ChunkedArray) -> npt.NDArray[np.bool_]:
    """Each value that equals the one before it; the first and empty values equal nothing."""
    same = np.zeros(len(column), dtype=np.bool_)
    if not pa.types.is_dictionary(column.type):
        same[1:] = _equal_neighbours(column)
        return same
    # Fetched batches each have a dictionary of their own (`_compact`): within one, rows with
    # the same index have the same value, which spares comparing text across dictionaries
    # (0.9 s of client and episode at 10 M rows, docs/benchmarks.md).
    at, before = 0, None
    for chunk in column.chunks:
        if not len(chunk):
            continue
        if len(pc.unique(chunk.dictionary)) < len(chunk.dictionary):
            chunk = chunk.dictionary_decode()  # a value listed twice has two indices
            inside = _equal_neighbours(chunk)
        else:
            index = np.asarray(pc.fill_null(chunk.indices, -1).to_numpy(zero_copy_only=False))
            inside = (index[1:] == index[:-1]) & (index[1:] >= 0)
        same[at + 1 : at + len(chunk)] = inside
        if before is not None:
            first = chunk[0]
            same[at] = first.is_valid and before.is_valid and first.as_py() == before.as_py()
        at, before = at + len(chunk), chunk[len(chunk) - 1]
    return same


def _equal_neighbours(values: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.bool_]:
    """Whether each value after the first equals the one before it (an empty one, nothing)."""
    equal = pc.equal(values.slice(1), values.slice(0, len(values) - 1))
    return np.asarray(pc.fill_null(equal, False).to_numpy(zero_copy_only=False))


def _repeats(table: pa.Table, same_episode: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Each row (sorted by client, episode, measure, rater, session and line) that repeats the
    row before it in all five: a duplicate of its run's first row, the earliest line.
    `same_episode`: whether each row's client and episode are the row's before it."""
    return same_episode & _as_before(table, (col.MEASURE, col.RATER, col.SESSION_NUMBER))


def _repeated_in_analysis(table: pa.Table, repeats: npt.NDArray[np.bool_]) -> AnalysisError:
    """An analysis' rows (an `ally analyze` folder given to `ally fit`) have no input lines to
    keep the earliest of: a repeated row means folders were put together by hand."""
    at = int(np.flatnonzero(repeats)[0])
    row = {k: table.column(k)[at].as_py() for k in (*KEYS, col.SESSION_NUMBER)}
    return AnalysisError(
        f"the analysis' sessions have {int(repeats.sum()):,} repeated rows, the first for "
        f"client {row[col.CLIENT]}, episode {row[col.EPISODE]}, session "
        f"{row[col.SESSION_NUMBER]}, measure {row[col.MEASURE]} and rater {row[col.RATER]}; "
        "an analysis has one row for each. Give ally fit the input files instead, or one "
        "analysis' folder."
    )


def _duplicates(table: pa.Table, repeats: npt.NDArray[np.bool_]) -> pa.Table:
    """The repeating rows as rejected rows: each names its run's first line."""
    lines = _ints(table.column(col.LINE))
    at = np.arange(len(repeats))
    first = np.maximum.accumulate(np.where(repeats, 0, at))[repeats]
    reasons = [
        f"duplicate of line {line} (same client, episode, session, measure and rater)"
        for line in lines[first].tolist()
    ]
    return pa.table(
        {
            "line": pa.array(lines[repeats], pa.int64()),
            "measure": text(table.column(col.MEASURE).filter(pa.array(repeats))),
            "reason": pa.array(reasons, pa.string()),
            "rule": pa.array([DUPLICATE_RULE] * len(reasons), pa.string()),
        },
        schema=DUPLICATES,
    )


def _codes(column: pa.ChunkedArray, names: Sequence[str]) -> npt.NDArray[np.int64]:
    """Each value's position in `names` (sorted), -1 for a null or a value not among them."""
    encoded = column.combine_chunks().dictionary_encode() if len(column) else None
    if encoded is None:
        return np.zeros(0, dtype=np.int64)
    dictionary = [str(v) for v in encoded.dictionary.to_pylist()]
    table = np.array([names.index(v) if v in names else -1 for v in dictionary] + [-1])
    indices = pc.fill_null(encoded.indices.cast(pa.int64()), len(dictionary))
    return np.asarray(table[np.asarray(indices.to_numpy())], dtype=np.int64)


CORE_COLUMNS = (
    col.CLIENT,
    col.EPISODE,
    col.CLINICIAN,
    col.GROUP,
    col.MEASURE,
    col.RATER,
    col.SESSION_NUMBER,
    col.DATE_VALUE,
    col.SCORE_VALUE,
    "critical",
    col.ENDING,
)
"""The good rows' columns the core and the outputs read, before subscales, line and goals."""


def sort_keys(numbered: bool) -> list[str]:
    """The good rows' order: by series and session, and a duplicate after its earliest line."""
    return [*KEYS, col.SESSION_NUMBER, *([col.LINE] if numbered else [])]


def pull(scored: Table, subscales: Sequence[str]) -> Pulled:
    """The scored rows (`analyze`'s good rows: one per administration) as core columns.

    DuckDB sorts the rows once, and `sorted_rows` makes the core's columns of them.
    """
    s = scored
    numbered = col.LINE in s.columns  # an analysis folder's rows have no input lines
    ordered = s.order_by(sort_keys(numbered))
    goal_items = [n for n in range(1, GOALS + 1) if col.goal_rating_column(n) in s.columns]
    selected = ordered.select(
        *CORE_COLUMNS,
        *(col.subscale_column(x) for x in subscales),
        *([col.LINE] if numbered else []),
    )
    # Fetched as a stream of batches: DuckDB frees its sorted rows as they are read, instead
    # of holding them all beside their Arrow copy.
    batches = selected.to_pyarrow_batches(chunk_size=FETCH_ROWS)
    schema = pa.schema(
        pa.field(f.name, pa.dictionary(pa.int32(), f.type)) if f.name in COMPACT else f
        for f in batches.schema
    )
    compact = [_compact(b, schema) for b in _read_ahead(batches)]
    table = pa.Table.from_batches(compact, schema=schema)
    return sorted_rows(table, subscales, _fetched_goal_ratings(ordered, goal_items))


def _read_ahead(batches: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    """The batches, the next fetched from the engine while this one is used: DuckDB makes the
    next batch of the sorted rows without Python's lock while Arrow encodes this one (`pull`
    took 7.4–8.0 s instead of 9.2 s at 10 M rows, docs/benchmarks.md)."""
    with ThreadPoolExecutor(max_workers=1) as reader:
        coming = reader.submit(_next_batch, batches)
        while (batch := coming.result()) is not None:
            coming = reader.submit(_next_batch, batches)
            yield batch


def _next_batch(batches: pa.RecordBatchReader) -> pa.RecordBatch | None:
    try:
        return batches.read_next_batch()
    except StopIteration:
        return None


def release_freed() -> None:
    """Give the system back the memory freed since the last stage. Arrow's allocator keeps
    freed pages for reuse, and so does the C library's for blocks under its threshold for
    mapping: at 10 M rows they kept 0.5 GB after the sorted rows were fetched, and 0.2 to
    0.4 GB after the fit and after `sessions` was written, which nothing used afterwards
    (docs/benchmarks.md)."""
    pa.default_memory_pool().release_unused()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The GNU C library, which alone has malloc_trim (None elsewhere, e.g. on macOS). Looked
    up at the first release, not when the module is imported."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    if libc is None or not hasattr(libc, "malloc_trim"):
        return None
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    libc.malloc_trim.restype = ctypes.c_int
    return libc


FETCH_ROWS = 1_000_000
"""Rows fetched from DuckDB at a time."""

COMPACT = (col.CLIENT, col.EPISODE, col.CLINICIAN, col.GROUP, col.MEASURE, col.RATER, col.ENDING)
"""Text columns dictionary-encoded as they are fetched: few values, or (client and episode)
each repeated on an episode's sorted rows. At 10 M rows their text would hold some 0.5 GB more
while the core's columns are made, and client and episode 0.1 GB more to the end of the run."""


def _compact(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """A fetched batch with the `COMPACT` columns dictionary-encoded and the others copied. A
    batch DuckDB hands over is freed only when none of its columns is held any more, and the
    identifiers are held to the end of the run: without the copy, every fetched column stayed."""
    return pa.RecordBatch.from_arrays(
        [
            c.dictionary_encode() if name in COMPACT else pa.concat_arrays([c])
            for name, c in zip(batch.schema.names, batch.columns, strict=True)
        ],
        schema=schema,
    )


def sorted_rows(
    table: pa.Table,
    subscales: Sequence[str],
    goal_ratings: Callable[[npt.NDArray[np.bool_]], npt.NDArray[np.float64]],
    measure_ids: tuple[str, ...] | None = None,
) -> Pulled:
    """The good rows, sorted by `sort_keys` (all of them, or whole episodes of them), as the
    core's columns. Episode, measure, rater and ending codes are found from the sorted
    columns; each row carries its series' ending: the last of its rows that gives one. A second
    row for the same client, episode, session, measure and rater is found next to the first,
    and left out (`Pulled.duplicates`). `goal_ratings` gives the goal-progress rows' ratings,
    told which of them are kept; `measure_ids` are the codes' measures (by default, the rows'
    own)."""
    numbered = col.LINE in table.column_names
    same_episode = _as_before(table, (col.CLIENT, col.EPISODE))
    repeats = _repeats(table, same_episode)
    if repeats.any() and not numbered:
        raise _repeated_in_analysis(table, repeats)
    duplicates = DUPLICATES.empty_table()
    goals_kept: npt.NDArray[np.bool_] | None = None
    if repeats.any():
        duplicates = _duplicates(table, repeats)
        on_goals = pc.fill_null(pc.equal(table.column(col.MEASURE), GOAL_MEASURE), False)
        goals_kept = ~repeats[np.asarray(on_goals.to_numpy(zero_copy_only=False))]
        table = table.filter(pa.array(~repeats))
        # A kept row's row before it now is the first of the run its neighbour repeated, so
        # of the same client and episode as that neighbour.
        same_episode = same_episode[~repeats]
    if measure_ids is None:
        measure_ids = tuple(
            sorted(
                str(m) for m in pc.unique(table.column(col.MEASURE)).to_pylist() if m is not None
            )
        )
    measure = _codes(table.column(col.MEASURE), measure_ids)
    rater = _codes(table.column(col.RATER), RATERS)
    # Episodes are numbered in the sort order of (client, episode), from 0.
    episode = np.cumsum(~same_episode, dtype=np.int64) - 1
    # The series' ending is on its latest row that gives one (rows rise by session).
    given = _codes(table.column(col.ENDING), ENDINGS[1:]) + 1
    series = Segments(starts_of(episode, measure, rater))
    latest = series.latest_where(given > 0)[series.last]
    ending_of_series = np.where(latest >= 0, given[np.maximum(latest, 0)], 0)
    day = table.column(col.DATE_VALUE).cast(pa.date32()).cast(pa.int32())
    administrations = Administrations(
        episode=episode,
        measure=measure,
        measure_ids=measure_ids,
        rater=rater,
        session=_ints(table.column(col.SESSION_NUMBER)),
        day=_floats(day),
        score=_floats(table.column(col.SCORE_VALUE)),
        subscales={x: _floats(table.column(col.subscale_column(x))) for x in subscales},
        ending=np.asarray(ending_of_series[series.of], dtype=np.int64),
    )
    rows = _passed(table, measure, measure_ids, rater)
    goal_rows = np.zeros(0, dtype=np.int64)
    if GOAL_MEASURE in measure_ids:
        goal_rows = np.flatnonzero(measure == measure_ids.index(GOAL_MEASURE)).astype(np.int64)
    if goals_kept is None:
        goals_kept = np.ones(len(goal_rows), dtype=np.bool_)
    ratings = goal_ratings(goals_kept)
    return Pulled(administrations, rows, tuple(subscales), goal_rows, ratings, duplicates)


def _passed(table: pa.Table, measure: Ints, measure_ids: Sequence[str], rater: Ints) -> pa.Table:
    """The columns that pass through to `sessions` and `episodes` (`Pulled.rows`), held
    compactly, since they are held while the model is applied: measure and rater as their
    codes' dictionary columns, and the client's column again as the episode's where every
    episode is named by its client (an input without episodes). With client, episode,
    clinician and group fetched as dictionary columns (`pull`), 10 M rows hold 0.3 GB instead
    of 0.7 GB. `text` reads them back as text."""
    client, episode = table.column(col.CLIENT), table.column(col.EPISODE)
    return pa.table(
        {
            col.CLIENT: client,
            col.EPISODE: client if episode.equals(client) else episode,
            col.CLINICIAN: table.column(col.CLINICIAN),
            col.GROUP: table.column(col.GROUP),
            col.DATE_VALUE: table.column(col.DATE_VALUE),
            "critical": table.column("critical"),
            col.MEASURE: _coded(measure, measure_ids),
            col.RATER: _coded(rater, RATERS),
            # Each row's part in its group, where the engine found it beforehand (Spark).
            **{c: table.column(c) for c in GROUP_ROW.names if c in table.column_names},
        }
    )


def _coded(codes: Ints, names: Sequence[str]) -> pa.DictionaryArray:
    """`names[code]` of each code, null for -1 (`_codes`)."""
    indices = pa.array(codes, pa.int32(), mask=codes < 0)
    return pa.DictionaryArray.from_arrays(indices, pa.array(list(names), pa.string()))


def text(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A column of `Pulled.rows` as the outputs write it: dictionary columns as plain text."""
    return column.cast(pa.string()) if pa.types.is_dictionary(column.type) else column


def _text(values: npt.NDArray[np.object_]) -> pa.Array:
    return pa.array(values, type=pa.string())


def _number(values: npt.NDArray[np.floating]) -> pa.Array:
    return pa.array(values, type=pa.float64(), from_pandas=True)


SLICE_ROWS = 250_000
"""Rows of `sessions` made and written at a time: a slice of 1,000,000 rows, its results and
Arrow columns, was 0.3 GB of a 10 M-row run's peak (docs/benchmarks.md)."""


def sessions_table(
    pulled: Pulled, r: SessionResults, start: int = 0, stop: int | None = None
) -> pa.Table:
    """`sessions` in docs/formats.md, in the columns' order but the groups' (`with_group_columns`
    adds them): rows `start` up to `stop` (all by default), whose results are `r` (one per row
    of that range)."""
    at = slice(start, len(pulled.administrations) if stop is None else stop)
    columns = _scored_columns(pulled, at)
    columns |= {
        "band": _text(r.band),
        "baseline": _number(r.baseline),
        "change": _number(r.change),
        "rci": _number(r.rci),
        "reliable_change": _text(r.reliable_change),
        "critical": pulled.passed.column("critical").slice(at.start, at.stop - at.start),
        "expected": _number(r.expected),
        "expected_low": _number(r.expected_low),
        "expected_high": _number(r.expected_high),
        "signal": _text(r.signal),
        "rupture": pa.array(r.rupture, type=pa.bool_()),
        "repair": pa.array(r.repair, type=pa.bool_()),
        "rupture_subscale": _text(r.rupture_subscale),
        "discrepancy": _number(r.discrepancy),
        "risk_flags": _text(r.risk_flags),
        "dropout_risk": _number(r.dropout_risk),
    }
    return pa.table(columns)


def _scored_columns(
    pulled: Pulled, at: slice | npt.NDArray[np.intp]
) -> dict[str, pa.Array | pa.ChunkedArray]:
    """The columns of `sessions` before the model's results, of the rows `at` (a range or
    positions)."""
    a, rows = pulled.administrations, pulled.passed
    part = rows.slice(at.start, at.stop - at.start) if isinstance(at, slice) else rows.take(at)
    return {
        col.CLIENT: text(part.column(col.CLIENT)),
        col.EPISODE: text(part.column(col.EPISODE)),
        col.CLINICIAN: text(part.column(col.CLINICIAN)),
        col.GROUP: text(part.column(col.GROUP)),
        col.SESSION: pa.array(a.session[at], type=pa.int64()),
        col.DATE: part.column(col.DATE_VALUE),
        col.MEASURE: text(part.column(col.MEASURE)),
        col.RATER: text(part.column(col.RATER)),
        col.SCORE: _number(a.score[at]),
        **{col.subscale_column(x): _number(a.subscales[x][at]) for x in pulled.subscales},
    }


def group_input(pulled: Pulled) -> tuple[npt.NDArray[np.intp], pa.Table]:
    """The positions of the rows that name a group, and their `sessions` columns from client to
    the subscales: what their groups' meetings are found from (`ally.engine.groups`)."""
    at = np.flatnonzero(np.asarray(named(pulled.passed.column(col.GROUP))))
    return at, pa.table(_scored_columns(pulled, at))


def group_parts(
    pulled: Pulled, check_ins: frozenset[str], config: RuptureConfig
) -> tuple[pa.Table | None, pa.Table | None]:
    """Each row's part in its group (GROUP_ROW) and the `groups` table, found from every row
    that names a group; (None, None) when none does."""
    at, rows = group_input(pulled)
    if not len(at):
        return None, None
    found = meetings(rows.to_pandas(date_as_object=False), check_ins, config)
    return group_rows(found.rows, at, len(pulled.administrations)), groups_table(
        found.stats, found.members
    )


def episode_slices(episode: Ints, size: int = SLICE_ROWS) -> list[tuple[int, int]]:
    """Row ranges of about `size` rows that begin and end between episodes."""
    n = len(episode)
    if not n:
        return [(0, 0)]
    starts = np.flatnonzero(starts_of(episode))
    at = np.searchsorted(starts, np.arange(size, n, size))
    cuts = starts[at[at < len(starts)]]
    bounds = np.unique(np.concatenate([[0], cuts, [n]])).tolist()
    return list(itertools.pairwise(bounds))


def _rows_of(a: Administrations, lo: int, hi: int) -> Administrations:
    return Administrations(
        episode=a.episode[lo:hi],
        measure=a.measure[lo:hi],
        measure_ids=a.measure_ids,
        rater=a.rater[lo:hi],
        session=a.session[lo:hi],
        day=a.day[lo:hi],
        score=a.score[lo:hi],
        subscales={k: v[lo:hi] for k, v in a.subscales.items()},
        ending=a.ending[lo:hi],
    )


STAGED = ".partial.parquet"
"""The suffix of the Parquet file a CSV `sessions` streams through (sessions.csv.partial.parquet,
`ally.engine.analyze`): removed once the CSV is written, or when the run fails; named so that
one left by a run that was killed is seen beside the outputs, which hold the same clients'
data."""


def apply_and_write_sessions(
    write: Callable[[pa.Table, str], None],
    model: PracticeModel,
    pulled: Pulled,
    path: str,
    *,
    stream: bool = True,
    feedback: bool = True,
    check_ins: frozenset[str] = frozenset(),
    threads: int = 1,
) -> tuple[SeriesResults, pa.Table | None]:
    """Apply the practice model (`ally.feedback.results`) a slice of whole episodes at a time,
    writing each slice's `sessions` rows as it comes: an episode's numbers never depend on
    the other episodes of a call, and the results of every row are never held at once. The
    series' results of all slices are returned, their rows counted from the first row, with
    the `groups` table (`ally.engine.groups`) when rows name groups: the groups' meetings are
    found from every member's rows before the first slice, and each row's part in its group
    set beside it in its slice. With `stream`, the slices stream into `path`, a Parquet file;
    without, the sessions are held (an engine that writes a table at once), and `write`
    writes them to `path`. `threads`: slices applied at once, each written in turn."""
    a = pulled.administrations
    parts, groups = group_parts(pulled, check_ins, model.ruptures)
    release_freed()  # the groups' working frames
    if stream and not path.endswith(".parquet"):
        raise ValueError(f"sessions stream into a Parquet file, not {path}")
    series: list[SeriesResults] = []
    tables: list[pa.Table] = []
    writer: pq.ParquetWriter | None = None
    # A slice is written while the next is applied: Arrow writes without Python's lock. One
    # write at a time keeps the row groups in order and at most two slices held.
    writing: Future[None] | None = None

    def applied(lo: int, hi: int) -> tuple[int, SeriesResults, pa.Table]:
        found = results(model, _rows_of(a, lo, hi), feedback=feedback)
        table = sessions_table(pulled, found.sessions, lo, hi)
        return (
            lo,
            found.series,
            with_group_columns(table, None if parts is None else parts.slice(lo, hi - lo)),
        )

    try:
        # The core's rules are numpy's work in good part, which lets go of Python's lock:
        # two slices applied at once took the step from 9.5 to 8.4 s at 10 M rows with
        # feedback (docs/benchmarks.md).
        with (
            ThreadPoolExecutor(max_workers=1) as pool,
            ThreadPoolExecutor(max_workers=max(1, threads)) as appliers,
        ):
            slices = episode_slices(a.episode)
            for lo, found, table in _in_order(appliers, applied, slices, max(1, threads)):
                if stream:
                    writer = writer or pq.ParquetWriter(path, table.schema)
                    if writing is not None:
                        writing.result()
                    writing = pool.submit(writer.write_table, table)
                else:
                    tables.append(table)
                series.append(replace(found, first_row=found.first_row + lo))
            if writing is not None:
                writing.result()
    finally:
        if writer is not None:
            writer.close()
    if not stream:
        write(pa.concat_tables(tables), path)
    joined = {
        f.name: np.concatenate([getattr(s, f.name) for s in series]) for f in fields(SeriesResults)
    }
    return SeriesResults(**joined), groups


Done = TypeVar("Done")


def _in_order(
    pool: ThreadPoolExecutor,
    work: Callable[[int, int], Done],
    slices: Iterable[tuple[int, int]],
    at_once: int,
) -> Iterator[Done]:
    """`work` of each slice, in the slices' order, with at most `at_once` of them begun and not
    yet taken."""
    coming: deque[Future[Done]] = deque()
    for lo, hi in slices:
        coming.append(pool.submit(work, lo, hi))
        if len(coming) >= at_once:
            yield coming.popleft().result()
    while coming:
        yield coming.popleft().result()


def goal_columns(pulled: Pulled, found: SeriesResults, threshold: float) -> dict[str, pa.Array]:
    """goalN_first, goalN_last, goalN_change and goalN_progress of each series: filled on
    the goal-progress series, empty on the others (`ally.change.goals.goal_course`)."""
    first_row = found.first_row
    # The goal-progress series are runs of the goal rows; the others rate no goals.
    on_goals = np.isin(first_row, pulled.goal_rows)
    starts = np.searchsorted(pulled.goal_rows, first_row[on_goals])
    course = goal_course(pulled.goal_ratings, starts, threshold)
    n = len(first_row)
    columns: dict[str, pa.Array] = {}
    for k in range(GOALS):
        goal = f"goal{k + 1}"
        parts = {"first": course.first, "last": course.last, "change": course.change}
        for part, values in parts.items():
            column = np.full(n, np.nan)
            column[on_goals] = values[:, k]
            columns[f"{goal}_{part}"] = _number(column)
        progress: npt.NDArray[np.object_] = np.full(n, None, dtype=object)
        progress[on_goals] = course.reliable[:, k]
        columns[f"{goal}_progress"] = _text(progress)
    return columns


def episodes_table(
    pulled: Pulled, found: SeriesResults, goal_threshold: float = GOAL_THRESHOLD
) -> pa.Table:
    """`episodes` in docs/formats.md: one row per series, sorted by client, episode, measure and
    rater; clinician and group as on the series' earliest session."""
    s, rows = found, pulled.passed
    at = pa.array(s.first_row)
    ending = np.array(ENDINGS, dtype=object)[pulled.administrations.ending[s.first_row]]
    ending[ending == ""] = None

    def counts(values: npt.NDArray[np.object_]) -> pa.Array:
        return pa.array(values, type=pa.int64())

    columns: Mapping[str, pa.Array | pa.ChunkedArray] = {
        **{
            name: text(rows.column(name).take(at))
            for name in (col.CLIENT, col.EPISODE, col.CLINICIAN, col.GROUP, col.MEASURE, col.RATER)
        },
        "sessions": pa.array(s.sessions, type=pa.int64()),
        "first_session": pa.array(s.first_session, type=pa.int64()),
        "last_session": pa.array(s.last_session, type=pa.int64()),
        "first_score": _number(s.first_score),
        "last_score": _number(s.last_score),
        "change": _number(s.change),
        "rci": _number(s.rci),
        "reliable_change": _text(s.reliable_change),
        "category": _text(s.category),
        "sudden_gains": pa.array(s.sudden_gains, type=pa.int64()),
        "sudden_losses": pa.array(s.sudden_losses, type=pa.int64()),
        "ruptures": counts(s.ruptures),
        "repairs": counts(s.repairs),
        "unrepaired": counts(s.unrepaired),
        "talking_therapies": _text(s.talking_therapies),
        col.ENDING: _text(ending),
        **goal_columns(pulled, found, goal_threshold),
    }
    return pa.table(dict(columns))


EARLIEST = "earliest_session"
"""The session of a series' first row, beside `episodes` for the run's summary (`first_session`
is the --pre session where one is given)."""


def with_earliest(episodes: pa.Table, pulled: Pulled, found: SeriesResults) -> pa.Table:
    """`episodes` with each series' earliest session, as `series_counts` reads it."""
    earliest = pulled.administrations.session[found.first_row]
    return episodes.append_column(EARLIEST, pa.array(earliest, pa.int64()))


def series_counts(facts: Table) -> Table:
    """`episodes` with each series' earliest session (`with_earliest`, or the engine's table of
    them) counted for the run's summary: one row per measure, rater, earliest session after 1
    (`late`), complete, category and reliable change, with its series, their sudden gains and
    losses, and the series with any. A few rows, whatever the number of series."""
    f = facts
    complete = f.change.notnull() & ~f.change.isnan().fill_null(False)
    return f.group_by(
        measure=f.measure,
        rater=f.rater,
        late=f[EARLIEST] > 1,
        complete=complete,
        category=f.category,
        reliable_change=f.reliable_change,
    ).aggregate(
        series=f.count(),
        gains=f.sudden_gains.sum(),
        losses=f.sudden_losses.sum(),
        with_gains=ibis.ifelse(f.sudden_gains > 0, 1, 0).sum(),
        with_losses=ibis.ifelse(f.sudden_losses > 0, 1, 0).sum(),
    )


def analysis_rows(sessions: pd.DataFrame) -> tuple[SessionRows, npt.NDArray[np.object_]]:
    """The rows of an analysis' `sessions` table (or any table with its columns: client,
    episode, session, date, measure, rater, score, rci, reliable_change, rupture, repair) as
    the dropout features read them, with each episode's (client, episode) by number."""
    s = sessions
    keys = s[["client", "episode"]].astype(str)
    episode, uniques = pd.factorize(pd.MultiIndex.from_frame(keys), sort=True)
    measure_ids = tuple(sorted(s["measure"].astype(str).unique()))
    dates = pd.to_datetime(s["date"], errors="coerce") if "date" in s else None
    day: npt.NDArray[np.float64] = (
        np.asarray((dates - pd.Timestamp("1970-01-01")).dt.days, dtype=np.float64)
        if dates is not None
        else np.full(len(s), np.nan)
    )

    def flags(name: str) -> npt.NDArray[np.bool_]:
        if name not in s:
            return np.zeros(len(s), dtype=np.bool_)
        return np.asarray(s[name].astype("boolean").fillna(False).to_numpy(bool))

    rater = s["rater"].fillna("client") if "rater" in s else pd.Series("client", index=s.index)
    rows = SessionRows(
        episode=np.asarray(episode, dtype=np.int64),
        session=pd.to_numeric(s["session"]).to_numpy(np.int64),
        day=day,
        measure=np.searchsorted(measure_ids, s["measure"].astype(str).to_numpy()).astype(np.int64),
        measures=measure_ids,
        client_rated=(rater == "client").to_numpy(bool),
        score=pd.to_numeric(s["score"]).to_numpy(float),
        rci=pd.to_numeric(s["rci"]).to_numpy(float) if "rci" in s else np.full(len(s), np.nan),
        deteriorated=(
            (s["reliable_change"] == "deteriorated").fillna(False).to_numpy(bool)
            if "reliable_change" in s
            else np.zeros(len(s), dtype=np.bool_)
        ),
        rupture=flags("rupture"),
        repair=flags("repair"),
    )
    return rows, np.asarray(list(uniques), dtype=object)


def analysis_features(sessions: pd.DataFrame, facts: MeasureFacts) -> pd.DataFrame:
    """The dropout features of each session of an analysis' `sessions` table, as a frame with
    client, episode and session (`ally.feedback.dropout_features`)."""
    rows, keys = analysis_rows(sessions)
    features = features_of(rows, facts)
    frame = pd.DataFrame(features.values, columns=list(FEATURES))
    frame.insert(0, "client", [keys[e][0] for e in features.episode])
    frame.insert(1, "episode", [keys[e][1] for e in features.episode])
    # "session" is a feature too; here it is the key, as a whole number.
    frame["session"] = features.session
    frame.insert(3, "date", pd.to_datetime(features.day, unit="D", errors="coerce"))
    return frame
