"""Features of dropout risk known at the end of each session, computed by numpy over columns.

`features_of` takes administrations as columns, each episode a segment of rows
(`ally.change.series`), so the web app's one episode and the batch engine's whole practice go
through the same function. Every feature of session *s* uses only rows with session ≤ *s*, so a
later session never changes an earlier one's features. See docs/dropout.md for each feature.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ally.change.series import Flags, Floats, Ints, Segments, starts_of

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
# A gap between sessions longer than two weeks counts as missed sessions (weekly therapy).
LONG_GAP_DAYS = 14


@dataclass(frozen=True)
class MeasureFacts:
    """What the features need to know of each measure: kind, direction and score range."""

    kinds: Mapping[str, str]
    signs: Mapping[str, int]
    ranges: Mapping[str, tuple[float, float]]


@dataclass(frozen=True)
class SessionRows:
    """Administrations with their change and alliance marks, as columns; usually sorted by
    episode, though `features_of` takes them in any order."""

    episode: Ints  # episode number, 0 to E − 1
    session: Ints
    day: Floats  # the session's date in whole days since 1970-01-01; NaN when unknown
    measure: Ints  # index into `measures`
    measures: tuple[str, ...]
    client_rated: Flags  # the rater is the client (else the clinician)
    score: Floats  # NaN when missing: such a row counts for nothing
    rci: Floats  # NaN when there is none
    deteriorated: Flags  # reliable change "deteriorated"
    rupture: Flags
    repair: Flags


@dataclass(frozen=True)
class SessionFeatures:
    """One row per episode and session with any score, sorted by episode and session."""

    episode: Ints
    session: Ints
    day: Floats  # the session's earliest known date; NaN when unknown
    values: Floats  # rows × FEATURES, missing values filled (0 beside an indicator)

    def column(self, name: str) -> Floats:
        """The values of one feature."""
        if name not in FEATURES:
            raise KeyError(f"{name!r} is not a dropout feature; the features are {FEATURES}")
        return self.values[:, FEATURES.index(name)]


@dataclass(frozen=True)
class TrainingRows:
    """Each session of each completed episode: its features and the episode's ending."""

    features: SessionFeatures
    dropout: Ints  # 1: the episode ended in dropout; 0: it ended as planned

    @property
    def episode(self) -> Ints:
        """Each row's episode number, the groups of grouped cross-validation."""
        return self.features.episode


def features_of(rows: SessionRows, facts: MeasureFacts) -> SessionFeatures:
    """The dropout features of every session with a score, from that session's rows and
    earlier ones only."""
    kept = np.flatnonzero(~np.isnan(rows.score))
    # Sorted by episode, then session; rows of one session keep their given order.
    order = kept[np.lexsort((rows.session[kept], rows.episode[kept]))]
    episode, session = rows.episode[order], rows.session[order]
    # The grid: one entry per episode and session with any score, of any measure or rater.
    grid = Segments(starts_of(episode, session))
    at = grid.of
    first = grid.first
    # A session's date is the earliest of its rows' dates.
    day = np.fmin.reduceat(rows.day[order], first) if len(first) else np.empty(0)
    episodes = Segments(starts_of(episode[first]))

    # Unknown when this session or the one before has no date (not measured from an older one).
    days = day - episodes.previous(day)
    long_gaps = episodes.cumulative_sum((days > LONG_GAP_DAYS).astype(np.float64))

    measure = rows.measure[order]
    kind = np.array([facts.kinds.get(m) for m in rows.measures], dtype=object)
    outcome = (kind == "outcome")[measure]
    # Reliable deterioration on any outcome series so far, the clinician's included
    # (Lambert's red signal, SPECS 3).
    worse = outcome & rows.deteriorated[order]
    deteriorated = episodes.any_so_far(
        np.logical_or.reduceat(worse, first) if len(first) else worse
    )

    change, rci = _primary_outcome(rows, facts, order[outcome], at[outcome], episodes, len(first))
    alliance = (kind == "alliance")[measure] & rows.client_rated[order]
    early, now, alliance_change, vs_mean, ruptures, unrepaired = _alliance_so_far(
        rows, facts, order[alliance], at[alliance], episodes, len(first)
    )
    columns = {
        "session": session[first],
        "days_since_previous": days,
        "days_missing": np.isnan(days),
        "long_gaps": long_gaps,
        "outcome_change": change,
        "outcome_rci": rci,
        "outcome_missing": np.isnan(change),
        "rci_missing": np.isnan(rci),
        "deteriorated": deteriorated,
        "alliance_early": early,
        "alliance_now": now,
        "alliance_change": alliance_change,
        "alliance_vs_mean": vs_mean,
        "alliance_missing": np.isnan(now),
        "ruptures": ruptures,
        "unrepaired_rupture": unrepaired,
    }
    values = np.empty((len(first), len(FEATURES)))
    for i, name in enumerate(FEATURES):
        values[:, i] = columns[name]
    # What cannot be known yet is 0, beside its indicator.
    values[np.isnan(values)] = 0.0
    return SessionFeatures(episode[first], session[first], day, values)


def _primary_outcome(
    rows: SessionRows,
    facts: MeasureFacts,
    index: Ints,
    at: Ints,
    episodes: Segments,
    n_grid: int,
) -> tuple[Floats, Floats]:
    """Signed change and RCI of the primary outcome at each grid session; NaN before any.

    `index` gives the outcome rows (of any rater) in grid order, `at` their grid sessions. The
    primary series is the one with most rows so far; ties go to the series that started first,
    then to the measure's name, then to the rater ("client" before "clinician"). A series'
    values at a session where it has no row are those of its latest earlier row.
    """
    change = np.full(n_grid, np.nan)
    rci = np.full(n_grid, np.nan)
    if not len(index):
        return change, rci
    measure = rows.measure[index]
    other = ~rows.client_rated[index]
    by = np.lexsort((at, other, measure, rows.episode[index]))
    index, at, measure, other = index[by], at[by], measure[by], other[by]
    series = Segments(starts_of(rows.episode[index], measure, other))
    of, first = series.of, series.first
    sign = np.array([facts.signs.get(m, 1) for m in rows.measures], dtype=np.float64)[measure]
    score = rows.score[index]
    row_change = sign * (score - score[first][of])
    row_rci = sign * rows.rci[index]
    count = np.arange(len(index)) - first[of] + 1

    # Each series stands at every grid session from its first to its episode's last.
    start = at[first]
    width = episodes.last[episodes.of[start]] + 1 - start
    cell_series = np.repeat(np.arange(len(first)), width)
    cell = (
        start[cell_series] + np.arange(len(cell_series)) - (np.cumsum(width) - width)[cell_series]
    )
    # The series' latest row at or before each of those sessions.
    latest = np.searchsorted(of * n_grid + at, cell_series * n_grid + cell, side="right") - 1

    names = sorted(range(len(rows.measures)), key=rows.measures.__getitem__)
    name_rank = np.empty(len(names), dtype=np.int64)
    name_rank[names] = np.arange(len(names))
    tie = np.empty(len(first), dtype=np.int64)
    tie[np.lexsort((other[first], name_rank[measure[first]], start))] = np.arange(len(first))
    best = np.lexsort((tie[cell_series], -count[latest], cell))
    best = best[starts_of(cell[best])]
    change[cell[best]] = row_change[latest[best]]
    rci[cell[best]] = row_rci[latest[best]]
    return change, rci


def _alliance_so_far(
    rows: SessionRows,
    facts: MeasureFacts,
    index: Ints,
    at: Ints,
    episodes: Segments,
    n_grid: int,
) -> tuple[Floats, Floats, Floats, Floats, Floats, Flags]:
    """Early, latest, change, deviation from the mean so far, ruptures and whether the latest
    rupture is unrepaired, at each grid session (the latest rating's values where the session
    has none; NaN, or 0 for the counts, before any).

    `index` gives the client's alliance rows in grid order, `at` their grid sessions. Scores
    become shares of the measure's range and are averaged over the session's rows.
    """
    early, now, change, vs_mean = np.full((4, n_grid), np.nan)
    ruptures = np.zeros(n_grid)
    unrepaired = np.zeros(n_grid, dtype=np.bool_)
    if not len(index):
        return early, now, change, vs_mean, ruptures, unrepaired
    low = np.empty(len(rows.measures))
    span = np.ones(len(rows.measures))
    for i, m in enumerate(rows.measures):
        bottom, top = facts.ranges.get(m, (0.0, 0.0))
        low[i], span[i] = (bottom, top - bottom) if top > bottom else (0.0, 1.0)
    measure = rows.measure[index]
    value = (rows.score[index] - low[measure]) / span[measure]

    sessions = Segments(starts_of(at))
    first = sessions.first
    rated = at[first]
    value = np.add.reduceat(value, first) / sessions.sizes
    rupture = np.logical_or.reduceat(rows.rupture[index], first)
    repair = np.logical_or.reduceat(rows.repair[index], first)

    ratings = Segments(starts_of(episodes.of[rated]))
    k = ratings.position()
    head = ratings.first[ratings.of]
    # Early alliance: mean of the first two ratings (Flückiger et al. 2018; Sharf et al. 2010).
    second = value[np.minimum(head + 1, len(value) - 1)]
    a_early = np.where(k == 0, value, (value[head] + second) / 2)
    a_change = value - ratings.previous(value)
    # Within-person deviation A_it − Ā_i (SPECS 4), Ā_i over the ratings so far.
    a_vs_mean = value - ratings.cumulative_sum(value) / (k + 1)
    a_ruptures = ratings.cumulative_sum(rupture.astype(np.float64))
    # Unrepaired ruptures predict worse outcome (McLaughlin et al. 2014); a repair in the
    # rupture's own session counts.
    last_rupture = ratings.latest_where(rupture)
    a_unrepaired = (last_rupture >= 0) & (ratings.latest_where(repair) < last_rupture)

    has = np.zeros(n_grid, dtype=np.bool_)
    has[rated] = True
    latest = episodes.latest_where(has)
    known = latest >= 0
    rating_at = np.zeros(n_grid, dtype=np.int64)
    rating_at[rated] = np.arange(len(rated))
    source = rating_at[latest[known]]
    for out, got in (
        (early, a_early),
        (now, value),
        (change, a_change),
        (vs_mean, a_vs_mean),
        (ruptures, a_ruptures),
        (unrepaired, a_unrepaired),
    ):
        out[known] = got[source]
    return early, now, change, vs_mean, ruptures, unrepaired


def dropout_labels(endings: npt.ArrayLike) -> Ints:
    """Each episode's label from its ending: 1 dropout, 0 planned, −1 not completed (ongoing or
    not recorded), which is left out of training."""
    e = np.asarray(endings, dtype=object)
    return np.where(e == "dropout", 1, np.where(e == "planned", 0, -1)).astype(np.int64)


def training_rows_of(features: SessionFeatures, endings: npt.ArrayLike) -> TrainingRows:
    """Each session of each completed episode with its features and label.

    `endings` holds each episode's ending ("planned", "dropout", "ongoing" or ""), indexed by
    episode number.
    """
    labels = dropout_labels(endings)
    if len(features.episode) and features.episode.max() >= len(labels):
        raise ValueError(
            f"endings are given for {len(labels)} episodes but the features reach episode "
            f"number {features.episode.max()}; give one ending per episode, indexed by number."
        )
    label = labels[features.episode]
    kept = label >= 0
    completed = SessionFeatures(
        features.episode[kept], features.session[kept], features.day[kept], features.values[kept]
    )
    return TrainingRows(completed, label[kept])
