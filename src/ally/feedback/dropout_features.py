"""Features of dropout risk known at the end of each session, as Ibis expressions.

Every feature of session *s* uses only rows with session ≤ *s* (cumulative and lagged windows
by session within the episode), so the same query runs on DuckDB and on Spark, and a later
session never changes an earlier one's features. See docs/dropout.md for each feature.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ibis
from ibis.expr.types import Table, Value

from ally.measures.library import Library
from ally.scoring.rules import score_range

# Bumped whenever a feature's definition changes: a model fitted on another set is rejected.
FEATURE_SET_VERSION = 1

FEATURES: tuple[str, ...] = (
    "session",
    "days_since_previous",
    "days_missing",
    "long_gaps",
    "outcome_change",
    "outcome_rci",
    "outcome_missing",
    "rci_missing",
    "deteriorated",
    "alliance_early",
    "alliance_now",
    "alliance_change",
    "alliance_vs_mean",
    "alliance_missing",
    "ruptures",
    "unrepaired_rupture",
)
# Left out of a model when the sessions table has no `rupture` column.
RUPTURE_FEATURES: tuple[str, ...] = ("ruptures", "unrepaired_rupture")

KEYS = ("client", "episode")
# A gap between sessions longer than two weeks counts as missed sessions (weekly therapy).
LONG_GAP_DAYS = 14


@dataclass(frozen=True)
class MeasureFacts:
    """What the features need to know of each measure: kind, direction and score range."""

    kinds: Mapping[str, str]
    signs: Mapping[str, int]
    ranges: Mapping[str, tuple[float, float]]


def measure_facts(library: Library) -> MeasureFacts:
    """Kinds, directions (+1: higher is better) and score ranges of the library's measures."""
    kinds: dict[str, str] = {}
    signs: dict[str, int] = {}
    ranges: dict[str, tuple[float, float]] = {}
    for m in library:
        kinds[m.id] = m.kind.value
        signs[m.id] = m.direction.sign
        ranges[m.id] = score_range(m)
    return MeasureFacts(kinds, signs, ranges)


def available_features(columns: Sequence[str]) -> tuple[str, ...]:
    """The features a sessions table with these columns supports (ruptures need `rupture`)."""
    if "rupture" in columns:
        return FEATURES
    return tuple(f for f in FEATURES if f not in RUPTURE_FEATURES)


def _lookup(column: Value, mapping: Mapping[str, Any], dtype: str) -> Value:
    """The mapping's value for each row's key, as one CASE expression; null if not listed."""
    if not mapping:
        return ibis.null(dtype)
    return ibis.cases(*((column == k, v) for k, v in mapping.items()), else_=ibis.null(dtype))


def _cumulative(keys: Sequence[str]) -> Any:
    return ibis.cumulative_window(group_by=list(keys), order_by="session")


def _as_of(grid: Table, obs: Table, keys: Sequence[str], columns: Sequence[str]) -> Table:
    """`grid` with `columns` from the latest `obs` row at or before each grid session.

    Rows of `obs` are unique by keys + session. A cumulative max of the observed session and an
    equality join carry values forward (portable where ASOF joins are not).
    """
    seen = obs.select(*keys, _seen_at=obs.session)
    g = grid.left_join(seen, [*(grid[k] == seen[k] for k in keys), grid.session == seen._seen_at])
    g = g.select(*grid.columns, "_seen_at")
    g = g.mutate(_at=g._seen_at.max().over(_cumulative(keys))).drop("_seen_at")
    values = obs.select(*keys, _obs_at=obs.session, **{c: obs[c] for c in columns})
    g = g.left_join(values, [*(g[k] == values[k] for k in keys), g._at == values._obs_at])
    return g.select(*grid.columns, *columns)


def _outcome(s: Table, grid: Table, signs: Mapping[str, int] | None) -> Table:
    """Change so far of the primary outcome: the series with most rows so far.

    Change and RCI are signed so that a positive value is an improvement.
    """
    series = [*KEYS, "measure", "rater"]
    o = s.filter(s._kind == "outcome")
    whole = ibis.window(group_by=series, order_by="session")
    so_far = _cumulative(series)
    sign = _lookup(o.measure, signs, "int64").fill_null(1) if signs is not None else 1
    rci = o.rci.cast("float64") if "rci" in o.columns else ibis.null("float64")
    o = o.mutate(
        _change=sign * (o._score - o._score.first().over(so_far)),
        _rci=sign * rci,
        _n=ibis.row_number().over(whole) + 1,
    )
    o = o.select(*series, "session", "_change", "_rci", "_n")
    starts = o.group_by(series).aggregate(_start=o.session.min())
    expanded = grid.join(starts, [grid[k] == starts[k] for k in KEYS]).filter(
        lambda t: t._start <= t.session
    )
    expanded = expanded.select(*grid.columns, "measure", "rater", "_start")
    carried = _as_of(expanded, o, series, ["_change", "_rci", "_n"])
    # Ties go to the series that started first, then to the measure's name: stable over time.
    rank = ibis.row_number().over(
        group_by=[*KEYS, "session"],
        order_by=[ibis.desc(carried._n), carried._start, carried.measure, carried.rater],
    )
    primary = carried.filter(rank == 0)
    return primary.select(
        *KEYS, "session", outcome_change=primary._change, outcome_rci=primary._rci
    )


def _alliance(s: Table, ranges: Mapping[str, tuple[float, float]] | None) -> Table:
    """The client's alliance per session (as a share of the measure's range, when known)."""
    a = s.filter((s._kind == "alliance") & (s._rater == "client"))
    value = a._score
    if ranges is not None:
        low = _lookup(a.measure, {k: v[0] for k, v in ranges.items()}, "float64")
        high = _lookup(a.measure, {k: v[1] for k, v in ranges.items()}, "float64")
        value = ibis.ifelse(low.notnull() & (high > low), (value - low) / (high - low), value)
    a = a.mutate(_value=value)
    a = a.mutate(**{n: ibis.literal(False) for n in ("rupture", "repair") if n not in a.columns})
    flags: dict[str, Value] = {}
    for name in ("rupture", "repair"):
        flags[f"_{name}"] = ibis.ifelse(a[name].cast("boolean").fill_null(False), 1, 0).max()
    per = a.group_by([*KEYS, "session"]).aggregate(_value=a._value.mean(), **flags)
    cum = _cumulative(KEYS)
    order = ibis.window(group_by=list(KEYS), order_by="session")
    per = per.mutate(_k=ibis.row_number().over(order))
    last_rupture = ibis.ifelse(per._rupture == 1, per.session, ibis.null("int64")).max().over(cum)
    last_repair = ibis.ifelse(per._repair == 1, per.session, ibis.null("int64")).max().over(cum)
    return per.select(
        *KEYS,
        "session",
        # Early alliance: mean of the first two ratings (Flückiger et al. 2018; Sharf et al. 2010).
        alliance_early=ibis.ifelse(per._k < 2, per._value, ibis.null("float64")).mean().over(cum),
        alliance_now=per._value,
        alliance_change=per._value - per._value.lag().over(order),
        # Within-person deviation A_it − Ā_i (SPECS 4), Ā_i over the ratings so far.
        alliance_vs_mean=per._value - per._value.mean().over(cum),
        ruptures=per._rupture.sum().over(cum),
        # Unrepaired ruptures predict worse outcome (McLaughlin et al. 2014).
        unrepaired_rupture=last_rupture.notnull()
        & (last_repair.isnull() | (last_repair < last_rupture)),
    )


def session_features(
    sessions: Table,
    kinds: Mapping[str, str],
    *,
    signs: Mapping[str, int] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
) -> Table:
    """One row per client, episode and session: keys, `date` and every column of FEATURES.

    `kinds` maps measure ids to `outcome` or `alliance`; `signs` (+1 when higher is better)
    orients outcome change; `ranges` rescales alliance scores to 0–1. Missing values are filled
    with 0 beside an indicator column.
    """
    s = sessions
    date = s.date.cast("date") if "date" in s.columns else ibis.null("date")
    rater = s.rater.fill_null("client") if "rater" in s.columns else ibis.literal("client")
    s = s.mutate(
        client=s.client.cast("string"),
        episode=s.episode.cast("string"),
        session=s.session.cast("int64"),
        _date=date,
        _kind=_lookup(s.measure, kinds, "string"),
        _rater=rater,
        _score=s.score.cast("float64"),
    )
    if "rater" not in s.columns:
        s = s.mutate(rater=s._rater)
    s = s.filter(s._score.notnull())

    grid = s.group_by([*KEYS, "session"]).aggregate(date=s._date.min())
    order = ibis.window(group_by=list(KEYS), order_by="session")
    days = grid.date.delta(grid.date.lag().over(order), unit="day").cast("float64")
    grid = grid.mutate(days_since_previous=days)
    grid = grid.mutate(
        long_gaps=ibis.ifelse(grid.days_since_previous > LONG_GAP_DAYS, 1, 0)
        .sum()
        .over(_cumulative(KEYS))
    )
    base = grid.select(*KEYS, "session", "date")

    # Reliable deterioration on any outcome measure so far (Lambert's red signal, SPECS 3).
    o = s.filter(s._kind == "outcome")
    if "reliable_change" in o.columns:
        worse = ibis.ifelse(o.reliable_change == "deteriorated", 1, 0)
    else:
        worse = ibis.literal(0)
    det = (
        o.mutate(_worse=worse)
        .group_by([*KEYS, "session"])
        .aggregate(_worse=lambda t: t._worse.max())
    )
    g = grid.left_join(det, [grid[k] == det[k] for k in (*KEYS, "session")])
    g = g.select(*grid.columns, _worse=g._worse.fill_null(0))
    grid = g.mutate(deteriorated=g._worse.max().over(_cumulative(KEYS))).drop("_worse")

    outcome = _outcome(s, base, signs)
    g = grid.left_join(outcome, [grid[k] == outcome[k] for k in (*KEYS, "session")])
    grid = g.select(*grid.columns, "outcome_change", "outcome_rci")

    alliance = _alliance(s, ranges)
    columns = [c for c in alliance.columns if c not in (*KEYS, "session")]
    grid = _as_of(grid, alliance, KEYS, columns)

    f = grid
    return f.select(
        *KEYS,
        "session",
        "date",
        days_since_previous=f.days_since_previous.fill_null(0.0),
        days_missing=ibis.ifelse(f.days_since_previous.isnull(), 1, 0),
        long_gaps=f.long_gaps.fill_null(0),
        outcome_change=f.outcome_change.fill_null(0.0),
        outcome_rci=f.outcome_rci.fill_null(0.0),
        outcome_missing=ibis.ifelse(f.outcome_change.isnull(), 1, 0),
        rci_missing=ibis.ifelse(f.outcome_rci.isnull(), 1, 0),
        deteriorated=f.deteriorated,
        alliance_early=f.alliance_early.fill_null(0.0),
        alliance_now=f.alliance_now.fill_null(0.0),
        alliance_change=f.alliance_change.fill_null(0.0),
        alliance_vs_mean=f.alliance_vs_mean.fill_null(0.0),
        alliance_missing=ibis.ifelse(f.alliance_now.isnull(), 1, 0),
        ruptures=f.ruptures.fill_null(0),
        unrepaired_rupture=ibis.ifelse(f.unrepaired_rupture.fill_null(False), 1, 0),
    )


def episode_endings(episodes: Table) -> Table:
    """One row per completed episode (ending planned or dropout) with `dropout` 1 or 0."""
    e = episodes.mutate(
        client=episodes.client.cast("string"), episode=episodes.episode.cast("string")
    )
    e = e.filter(e.ending.isin(["planned", "dropout"]))
    e = e.group_by(list(KEYS)).aggregate(_dropout=(e.ending == "dropout").any())
    return e.select(*KEYS, dropout=ibis.ifelse(e._dropout, 1, 0))


def training_rows(features: Table, episodes: Table) -> Table:
    """Each session of each completed episode with its features and label `dropout`."""
    endings = episode_endings(episodes)
    joined = features.join(endings, [features[k] == endings[k] for k in KEYS])
    return joined.select(*features.columns, "dropout").order_by([*KEYS, "session"])
