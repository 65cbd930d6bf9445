"""From the engine's tables to the core's columns and back.

The scored rows leave DuckDB once, sorted by client, episode, measure, rater and session, as the
numpy columns `ally.feedback.results` takes; the results return as Arrow columns beside the
identifiers, which never leave Arrow, and are written by DuckDB as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import ibis
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from ibis.expr.types import Table

from ally.change.goals import GOALS, goal_course
from ally.change.goals import MEASURE as GOAL_MEASURE
from ally.change.goals import THRESHOLD as GOAL_THRESHOLD
from ally.engine import columns as col
from ally.feedback.dropout_features import FEATURES, MeasureFacts, SessionRows, features_of
from ally.feedback.results import ENDINGS, RATERS, Administrations, Results

KEYS = (col.CLIENT, col.EPISODE, col.MEASURE, col.RATER)


@dataclass(frozen=True)
class Pulled:
    """The scored rows as the core's columns, and the Arrow columns that pass through."""

    administrations: Administrations
    rows: pa.Table
    """client, episode, clinician, group, date, measure, rater, critical: one row each."""
    subscales: tuple[str, ...]
    goal_ratings: npt.NDArray[np.float64]
    """The goals' ratings of each row (rows × goals, `ally.change.goals`): its item answers on
    a goal-progress row, NaN on every other row."""


def _floats(column: pa.ChunkedArray) -> npt.NDArray[np.float64]:
    filled = pc.fill_null(column.cast(pa.float64()), np.nan)
    return np.asarray(filled.to_numpy(), dtype=np.float64)


def _ints(column: pa.ChunkedArray) -> npt.NDArray[np.int64]:
    return np.asarray(column.cast(pa.int64()).to_numpy(), dtype=np.int64)


def _goal_ratings(table: pa.Table, numbers: Sequence[int]) -> npt.NDArray[np.float64]:
    on_goals = np.asarray(
        pc.fill_null(pc.equal(table.column(col.MEASURE), GOAL_MEASURE), False).to_numpy(
            zero_copy_only=False
        ),
        dtype=np.bool_,
    )
    ratings = np.full((table.num_rows, GOALS), np.nan)
    for number in numbers:
        if number <= GOALS:
            values = _floats(table.column(col.goal_rating_column(number)))
            ratings[:, number - 1] = np.where(on_goals, values, np.nan)
    return ratings


def pull(scored: Table, subscales: Sequence[str]) -> Pulled:
    """The scored rows (`analyze`'s good rows: one per administration) as core columns.

    Each row carries its series' ending: the last of its rows that gives one.
    """
    s = scored
    ended_at = ibis.ifelse(s[col.ENDING].notnull(), s[col.SESSION_NUMBER], -1)
    endings = s.group_by(list(KEYS)).aggregate(_ending=s[col.ENDING].argmax(ended_at))
    s = s.join(endings, list(KEYS))
    s = s.mutate(
        _episode=ibis.dense_rank().over(order_by=[s[col.CLIENT], s[col.EPISODE]]),
        _measure=ibis.dense_rank().over(order_by=s[col.MEASURE]),
        _rater=ibis.cases(*((s[col.RATER] == r, i) for i, r in enumerate(RATERS)), else_=-1),
        _ending_code=ibis.cases(
            *((s._ending == e, i) for i, e in enumerate(ENDINGS) if e), else_=0
        ),
    )
    ordered = s.order_by([*KEYS, col.SESSION_NUMBER])
    goal_items = [n for n in range(1, GOALS + 1) if col.goal_rating_column(n) in s.columns]
    table = ordered.select(
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
        "_episode",
        "_measure",
        "_rater",
        "_ending_code",
        *(col.subscale_column(x) for x in subscales),
        *(col.goal_rating_column(n) for n in goal_items),
    ).to_pyarrow()
    measure_ids = tuple(
        str(m) for m in pc.unique(table.column(col.MEASURE)).to_pylist() if m is not None
    )
    day = table.column(col.DATE_VALUE).cast(pa.date32()).cast(pa.int32())
    administrations = Administrations(
        episode=_ints(table.column("_episode")),
        measure=_ints(table.column("_measure")),
        measure_ids=tuple(sorted(measure_ids)),
        rater=_ints(table.column("_rater")),
        session=_ints(table.column(col.SESSION_NUMBER)),
        day=_floats(day),
        score=_floats(table.column(col.SCORE_VALUE)),
        subscales={x: _floats(table.column(col.subscale_column(x))) for x in subscales},
        ending=_ints(table.column("_ending_code")),
    )
    passed = [col.CLIENT, col.EPISODE, col.CLINICIAN, col.GROUP, col.DATE_VALUE, "critical"]
    rows = table.select([*passed, col.MEASURE, col.RATER])
    return Pulled(administrations, rows, tuple(subscales), _goal_ratings(table, goal_items))


def _text(values: npt.NDArray[np.object_]) -> pa.Array:
    return pa.array(values, type=pa.string())


def _number(values: npt.NDArray[np.floating]) -> pa.Array:
    return pa.array(values, type=pa.float64(), from_pandas=True)


def sessions_table(pulled: Pulled, found: Results) -> pa.Table:
    """`sessions` in docs/formats.md: one row per administration, in the columns' order."""
    a, r, rows = pulled.administrations, found.sessions, pulled.rows
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        col.CLIENT: rows.column(col.CLIENT),
        col.EPISODE: rows.column(col.EPISODE),
        col.CLINICIAN: rows.column(col.CLINICIAN),
        col.GROUP: rows.column(col.GROUP),
        col.SESSION: pa.array(a.session, type=pa.int64()),
        col.DATE: rows.column(col.DATE_VALUE),
        col.MEASURE: rows.column(col.MEASURE),
        col.RATER: rows.column(col.RATER),
        col.SCORE: _number(a.score),
        **{col.subscale_column(x): _number(a.subscales[x]) for x in pulled.subscales},
        "band": _text(r.band),
        "baseline": _number(r.baseline),
        "change": _number(r.change),
        "rci": _number(r.rci),
        "reliable_change": _text(r.reliable_change),
        "critical": rows.column("critical"),
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


def goal_columns(pulled: Pulled, found: Results, threshold: float) -> dict[str, pa.Array]:
    """goalN_first, goalN_last, goalN_change and goalN_progress of each series: filled on
    the goal-progress series, empty on the others (`ally.change.goals.goal_course`)."""
    course = goal_course(pulled.goal_ratings, found.series.first_row, threshold)
    columns: dict[str, pa.Array] = {}
    for k in range(GOALS):
        goal = f"goal{k + 1}"
        columns[f"{goal}_first"] = _number(course.first[:, k])
        columns[f"{goal}_last"] = _number(course.last[:, k])
        columns[f"{goal}_change"] = _number(course.change[:, k])
        columns[f"{goal}_progress"] = _text(course.reliable[:, k])
    return columns


def episodes_table(
    pulled: Pulled, found: Results, goal_threshold: float = GOAL_THRESHOLD
) -> pa.Table:
    """`episodes` in docs/formats.md: one row per series, sorted by client, episode, measure and
    rater; clinician and group as on the series' earliest session."""
    s, rows = found.series, pulled.rows
    at = pa.array(s.first_row)
    ending = np.array(ENDINGS, dtype=object)[pulled.administrations.ending[s.first_row]]
    ending[ending == ""] = None

    def counts(values: npt.NDArray[np.object_]) -> pa.Array:
        return pa.array(values, type=pa.int64())

    columns: Mapping[str, pa.Array | pa.ChunkedArray] = {
        col.CLIENT: rows.column(col.CLIENT).take(at),
        col.EPISODE: rows.column(col.EPISODE).take(at),
        col.CLINICIAN: rows.column(col.CLINICIAN).take(at),
        col.GROUP: rows.column(col.GROUP).take(at),
        col.MEASURE: rows.column(col.MEASURE).take(at),
        col.RATER: rows.column(col.RATER).take(at),
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


def write(backend: ibis.BaseBackend, table: pa.Table, path: Path) -> None:
    """Written by DuckDB, as every table of `ally analyze` is."""
    expr = ibis.memtable(table)
    if path.suffix == ".parquet":
        backend.to_parquet(expr, path)
    else:
        backend.to_csv(expr, path)


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
