"""What a practice model says of each administration and each series: one function, any size.

`results` applies a fitted `PracticeModel` to scored administrations given as columns sorted by
episode, measure, rater and session. The web app calls it with one episode's rows after every
answer; the batch engine with a whole practice's. It estimates nothing, so an episode's numbers
never depend on which other episodes share its call.

The columns of its output are those of `ally analyze`'s `sessions` and `episodes` tables
(docs/formats.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from ally.change.categories import FALLBACK as NO_CATEGORY
from ally.change.categories import Category, episode_conditions
from ally.change.reliable import is_deteriorated, is_improved
from ally.change.series import Flags, Floats, Ints, Segments, blocks, starts_of
from ally.change.sudden_gains import sudden_changes
from ally.change.talking_therapies import paired_outcome
from ally.feedback.alliance import ruptures
from ally.feedback.dropout import INDICATORS, risk_indicators
from ally.feedback.dropout_features import (
    FEATURES,
    MeasureFacts,
    SessionFeatures,
    SessionRows,
    features_of,
)
from ally.feedback.practice import ALLIANCE, MeasureModel, PracticeModel
from ally.feedback.signals import FALLBACK as NO_SIGNAL
from ally.feedback.signals import Signal, signal_conditions
from ally.scoring.columns import band_codes

Objects = npt.NDArray[np.object_]

RATERS = ("client", "clinician")
"""Rater codes: 0 the client, 1 the clinician."""
CLIENT, CLINICIAN = 0, 1
ENDINGS = ("", "planned", "dropout", "ongoing")
"""Ending codes: 0 not known, 1 planned, 2 dropout, 3 still running."""
ENDED = (1, 2)

RELIABLE = ("improved", "unchanged", "deteriorated")
CATEGORIES = tuple(c.value for c in Category)
SIGNALS = tuple(s.value for s in Signal)


@dataclass(frozen=True)
class Administrations:
    """Scored administrations as columns, sorted by episode, measure, rater and session.

    Episodes are numbered from 0; measures are positions in `measure_ids`; raters and endings
    are codes (`RATERS`, `ENDINGS`), the ending being the episode's, on each of its rows.
    """

    episode: Ints
    measure: Ints
    measure_ids: tuple[str, ...]
    rater: Ints
    session: Ints
    day: Floats
    """The session's date in days since 1970-01-01; NaN when unknown."""
    score: Floats
    subscales: Mapping[str, Floats]
    ending: Ints

    def __post_init__(self) -> None:
        n = len(self.episode)
        columns = {
            "measure": self.measure,
            "rater": self.rater,
            "session": self.session,
            "day": self.day,
            "score": self.score,
            "ending": self.ending,
            **{f"subscale {k}": v for k, v in self.subscales.items()},
        }
        for name, column in columns.items():
            if len(column) != n:
                raise ValueError(f"{name} has {len(column)} rows, episode has {n}")
        if n > 1:
            keys = (self.episode, self.measure, self.rater, self.session)
            later = np.zeros(n - 1, dtype=np.bool_)
            same = np.ones(n - 1, dtype=np.bool_)
            for key in keys:
                later |= same & (key[1:] > key[:-1])
                same &= key[1:] == key[:-1]
            if not np.all(later):
                raise ValueError(
                    "administrations must be sorted by episode, measure, rater and session, "
                    "with one row per session of each measure and rater"
                )

    def __len__(self) -> int:
        return len(self.episode)


@dataclass(frozen=True)
class SessionResults:
    """One row per administration, in the order given (`sessions` in docs/formats.md)."""

    band: Objects
    baseline: Floats
    change: Floats
    rci: Floats
    reliable_change: Objects
    expected: Floats
    expected_low: Floats
    expected_high: Floats
    signal: Objects
    rupture: Objects
    """True or False on rows of alliance measures the rupture rules ran on; None elsewhere."""
    repair: Objects
    rupture_subscale: Objects
    discrepancy: Floats
    risk_flags: Objects
    dropout_risk: Floats


@dataclass(frozen=True)
class SeriesResults:
    """One row per series: an episode's scores of one measure by one rater (`episodes`)."""

    first_row: Ints
    """The series' first administration, whose episode, measure and rater it has."""
    sessions: Ints
    first_session: Ints
    last_session: Ints
    first_score: Floats
    last_score: Floats
    change: Floats
    rci: Floats
    reliable_change: Objects
    category: Objects
    sudden_gains: Ints
    sudden_losses: Ints
    ruptures: Objects
    """Counts on alliance measures the rupture rules ran on; None elsewhere."""
    repairs: Objects
    unrepaired: Objects
    talking_therapies: Objects
    """The NHS Talking Therapies outcome of the episode's paired client-rated PHQ-9 and GAD-7,
    on both series' rows (`talking_therapies_labels`); None where the pair is incomplete."""


@dataclass(frozen=True)
class Results:
    sessions: SessionResults
    series: SeriesResults
    feedback: bool = True
    """False when the expected course, signals, ruptures and dropout risk were left out."""


def _labels(codes: npt.NDArray[np.integer], names: Sequence[str]) -> Objects:
    """Codes as text: -1 is None, k is names[k]."""
    table = np.array([None, *names], dtype=object)
    return np.asarray(table[codes + 1], dtype=object)


def _nan(n: int) -> Floats:
    return np.full(n, np.nan)


def _value_at(a: Administrations, seg: Segments, session: int | None, rows: Ints) -> Floats:
    """Each series' score at `session`, or on `rows` (its first or last row) without one."""
    if session is None:
        return np.asarray(a.score[rows], dtype=np.float64)
    out = _nan(seg.count)
    hit = a.session == session
    out[seg.of[hit]] = a.score[hit]
    return out


def series_scores(
    a: Administrations, seg: Segments, pre: int | None, post: int | None
) -> tuple[Floats, Floats, Flags]:
    """Each series' first and last score: at sessions `pre` and `post` when given, else at its
    earliest and latest session (NaN where that session has no score); and whether they are a
    pre-post pair, two scores of two sessions. A series of one score is no pair: it has no
    change to classify and does not enter the practice's sample statistics."""
    if not seg.count:
        return _nan(0), _nan(0), np.zeros(0, dtype=np.bool_)
    first = _value_at(a, seg, pre, seg.first)
    last = _value_at(a, seg, post, seg.last)
    present = ~np.isnan(first) & ~np.isnan(last)
    if pre is None and post is None:
        present &= a.session[seg.last] > a.session[seg.first]
    return first, last, present


def _reliable_codes(index: Floats, sign: int, critical: float) -> npt.NDArray[np.int8]:
    improved = np.asarray(is_improved(index, sign, critical), dtype=np.bool_)
    deteriorated = np.asarray(is_deteriorated(index, sign, critical), dtype=np.bool_)
    codes = np.where(improved, 0, np.where(deteriorated, 2, 1)).astype(np.int8)
    codes[np.isnan(index)] = -1
    return codes


def results(model: PracticeModel, a: Administrations, *, feedback: bool = True) -> Results:
    """Session and series results of the administrations under the practice model.

    `feedback=False` leaves out the expected course, signals, ruptures and dropout risk.
    """
    n = len(a)
    seg = Segments(starts_of(a.episode, a.measure, a.rater))
    first, last = seg.first, seg.last
    n_series = seg.count
    s_measure, s_rater = a.measure[first], a.rater[first]
    earliest, latest = a.session[first], a.session[last]
    first_score, last_score, complete = series_scores(a, seg, model.pre, model.post)

    baseline = first_score[seg.of]
    change = a.score - baseline
    rci = _nan(n)
    reliable = np.full(n, -1, dtype=np.int8)
    s_rci = _nan(n_series)
    s_reliable = np.full(n_series, -1, dtype=np.int8)
    s_category = np.full(n_series, -1, dtype=np.int8)
    gains = np.zeros(n_series, dtype=np.int64)
    losses = np.zeros(n_series, dtype=np.int64)
    band: Objects = np.full(n, None, dtype=object)

    models = {code: model.measure(mid) for code, mid in enumerate(a.measure_ids)}
    for code, m in models.items():
        on_measure = a.measure == code
        if on_measure.any():
            labels = np.array([None, *(label for _, label in m.bands)], dtype=object)
            band[on_measure] = labels[band_codes(a.score[on_measure], m.bands) + 1]
    for code, rater in {(int(m), int(r)) for m, r in zip(s_measure, s_rater, strict=True)}:
        m = models[code]
        cm = m.change(RATERS[rater])
        if cm is None:
            continue
        chosen = np.flatnonzero((s_measure == code) & (s_rater == rater))
        # Criterion 1 may be given for a measure without a reliable change.
        criterion = cm.sudden_gain_criterion
        if criterion is not None:
            for block in blocks(seg.of, a.session, chosen, latest[chosen], n_series):
                found = sudden_changes(block.matrix(a.score), cutoff=criterion, direction=m.sign)
                gains[block.series] = found.gain_counts
                losses[block.series] = found.loss_counts
        rc = cm.reliable_change
        if rc is None:
            continue
        on_series = np.zeros(n_series, dtype=np.bool_)
        on_series[chosen] = True
        rows = on_series[seg.of]
        rci[rows] = rc.index(baseline[rows], a.score[rows])
        reliable[rows] = _reliable_codes(rci[rows], m.sign, rc.critical)
        done = chosen[complete[chosen]]
        s_rci[done] = rc.index(first_score[done], last_score[done])
        s_reliable[done] = _reliable_codes(s_rci[done], m.sign, rc.critical)
        if cm.cutoff is not None:
            conditions = episode_conditions(
                rc,
                s_rci[done],
                first_score[done],
                last_score[done],
                cm.cutoff,
                m.sign,
                cutoff_is_clinical=cm.cutoff_is_clinical,
            )
            s_category[done] = np.select(
                [np.asarray(c, dtype=np.bool_) for _, c in conditions],
                [CATEGORIES.index(cat.value) for cat, _ in conditions],
                default=CATEGORIES.index(NO_CATEGORY.value),
            )

    expected, low, high = _nan(n), _nan(n), _nan(n)
    signal = np.full(n, -1, dtype=np.int8)
    rupture = np.full(n, -1, dtype=np.int8)
    repair = np.full(n, -1, dtype=np.int8)
    driver: Objects = np.full(n, None, dtype=object)
    s_ruptures = np.full(n_series, -1, dtype=np.int64)
    s_repairs = np.full(n_series, -1, dtype=np.int64)
    s_unrepaired = np.full(n_series, -1, dtype=np.int64)
    risk_flags: Objects = np.full(n, None, dtype=object)
    dropout_risk = _nan(n)
    if feedback:
        _signals(models, a, seg, baseline, earliest, expected, low, high, signal)
        _ruptures(
            model, models, a, seg, (rupture, repair, driver), (s_ruptures, s_repairs, s_unrepaired)
        )
        risk_flags, dropout_risk = _dropout(model, models, a, rci, reliable, rupture, repair)

    return Results(
        SessionResults(
            band=band,
            baseline=baseline,
            change=change,
            rci=rci,
            reliable_change=_labels(reliable, RELIABLE),
            expected=expected,
            expected_low=low,
            expected_high=high,
            signal=_labels(signal, SIGNALS),
            rupture=_flags(rupture),
            repair=_flags(repair),
            rupture_subscale=driver,
            discrepancy=_discrepancy(a),
            risk_flags=risk_flags,
            dropout_risk=dropout_risk,
        ),
        SeriesResults(
            first_row=first,
            sessions=seg.sizes,
            first_session=np.full(n_series, model.pre) if model.pre is not None else earliest,
            last_session=np.full(n_series, model.post) if model.post is not None else latest,
            first_score=first_score,
            last_score=last_score,
            change=np.where(complete, last_score - first_score, np.nan),
            rci=s_rci,
            reliable_change=_labels(s_reliable, RELIABLE),
            category=_labels(s_category, CATEGORIES),
            sudden_gains=gains,
            sudden_losses=losses,
            ruptures=_counts(s_ruptures),
            repairs=_counts(s_repairs),
            unrepaired=_counts(s_unrepaired),
            talking_therapies=talking_therapies_labels(a, seg, first_score, last_score, complete),
        ),
        feedback,
    )


TALKING_THERAPIES = (
    "reliable recovery",
    "recovery",
    "reliable improvement",
    "reliable deterioration",
    "not a case at start",
    "no reliable change",
)
"""The outcome of a course of NHS Talking Therapies, in this order of precedence."""


def talking_therapies_labels(
    a: Administrations, seg: Segments, first: Floats, last: Floats, paired: Flags
) -> Objects:
    """Each series' episode outcome by the NHS Talking Therapies rules (`change.talking_
    therapies`), where the episode has client-rated PHQ-9 and GAD-7 pre-post pairs; None
    elsewhere. Recovery needs caseness at the start, so a client who started below it is "not a
    case at start" unless their scores reliably changed."""
    out: Objects = np.full(seg.count, None, dtype=object)
    if "phq9" not in a.measure_ids or "gad7" not in a.measure_ids:
        return out
    s_episode, s_measure = a.episode[seg.first], a.measure[seg.first]
    client = (a.rater[seg.first] == CLIENT) & paired
    phq9 = np.flatnonzero(client & (s_measure == a.measure_ids.index("phq9")))
    gad7 = np.flatnonzero(client & (s_measure == a.measure_ids.index("gad7")))
    both, at_phq9, at_gad7 = np.intersect1d(
        s_episode[phq9], s_episode[gad7], assume_unique=True, return_indices=True
    )
    if not len(both):
        return out
    p, g = phq9[at_phq9], gad7[at_gad7]
    flags = paired_outcome(first[p], last[p], first[g], last[g])
    conditions = [
        flags.reliable_recovery,
        flags.recovered,
        flags.reliable_improvement,
        flags.reliable_deterioration,
        ~np.asarray(flags.caseness_start, dtype=np.bool_),
    ]
    labels = np.select(
        [np.asarray(c, dtype=np.bool_) for c in conditions],
        list(TALKING_THERAPIES[:-1]),
        default=TALKING_THERAPIES[-1],
    ).astype(object)
    out[p] = labels
    out[g] = labels
    return out


def _flags(codes: npt.NDArray[np.int8]) -> Objects:
    return _labels(codes, (False, True))  # type: ignore[arg-type]


def _counts(values: Ints) -> Objects:
    out: Objects = values.astype(object)
    out[values < 0] = None
    return out


def _signals(
    models: Mapping[int, MeasureModel],
    a: Administrations,
    seg: Segments,
    baseline: Floats,
    earliest: Ints,
    expected: Floats,
    low: Floats,
    high: Floats,
    signal: npt.NDArray[np.int8],
) -> None:
    """Expected course and signal of client-rated outcome rows (docs/feedback.md).

    The expected course starts from the intake score: a series without session 1 has none.
    """
    from_intake = earliest[seg.of] == 1
    for code, m in models.items():
        plan = m.outcome
        if plan is None:
            continue
        rows = np.flatnonzero(
            (a.measure == code)
            & (a.rater == CLIENT)
            & from_intake
            & ~np.isnan(a.score)
            & ~np.isnan(baseline)
        )
        if not len(rows):
            continue
        course = plan.expected
        intake = np.clip(baseline[rows], *course.intake_range)
        log_session = np.clip(
            np.log(a.session[rows].astype(np.float64)),
            course.min_log_session,
            course.max_log_session,
        )
        # The course and its band stay within the scores the measure can give.
        bounds = (
            m.minimum if m.minimum is not None else -np.inf,
            m.maximum if m.maximum is not None else np.inf,
        )
        e = np.clip(course.expected(intake, log_session), *bounds)
        lo = np.clip(course.low(intake, log_session), *bounds)
        hi = np.clip(course.high(intake, log_session), *bounds)
        conditions = signal_conditions(
            a.score[rows],
            baseline[rows],
            e,
            lo,
            hi,
            a.session[rows],
            cutoff=plan.cutoff,
            reliable_change=plan.reliable_change,
            sign=m.sign,
            thresholds=plan.thresholds,
            cutoff_is_clinical=plan.cutoff_is_clinical,
        )
        expected[rows], low[rows], high[rows] = e, lo, hi
        signal[rows] = np.select(
            [np.asarray(c, dtype=np.bool_) for _, c in conditions],
            [SIGNALS.index(s.value) for s, _ in conditions],
            default=SIGNALS.index(NO_SIGNAL.value),
        )


def _ruptures(
    model: PracticeModel,
    models: Mapping[int, MeasureModel],
    a: Administrations,
    seg: Segments,
    marks: tuple[npt.NDArray[np.int8], npt.NDArray[np.int8], Objects],
    counts: tuple[Ints, Ints, Ints],
) -> None:
    """Ruptures and repairs of alliance measures, by each rater (docs/alliance.md)."""
    rupture, repair, driver = marks
    s_ruptures, s_repairs, s_unrepaired = counts
    first, last = seg.first, seg.last
    s_measure, s_rater = a.measure[first], a.rater[first]
    latest = a.session[last]
    ended = np.isin(a.ending[first], ENDED)
    for code, m in models.items():
        if m.kind != ALLIANCE:
            continue
        given = [s for s in m.subscales if s in a.subscales]
        # The client's subscales rupture by their own falls too, where the model has them.
        drops = tuple(d.rule() for d in m.subscale_drops if d.subscale in given)
        by_client = replace(model.ruptures, on_their_own=(*model.ruptures.on_their_own, *drops))
        for rater in (CLIENT, CLINICIAN):
            chosen = np.flatnonzero((s_measure == code) & (s_rater == rater))
            if not len(chosen):
                continue
            config = by_client if rater == CLIENT else model.ruptures
            for block in blocks(seg.of, a.session, chosen, latest[chosen], seg.count):
                found = ruptures(
                    block.matrix(a.score),
                    {s: block.matrix(a.subscales[s]) for s in given},
                    config=config,
                    ended=ended[block.series],
                )
                s_ruptures[block.series] = found.rupture_counts
                s_repairs[block.series] = found.repair_counts
                s_unrepaired[block.series] = found.unrepaired_counts
                rupture[block.rows] = found.rupture[block.at]
                repair[block.rows] = found.repair[block.at]
                names = np.array([None, *found.subscales], dtype=object)
                driver[block.rows] = names[found.rupture_subscale[block.at] + 1]


def _discrepancy(a: Administrations) -> Floats:
    """Client minus clinician on the same measure and session, on the client's row
    (`ally.feedback.alliance.discrepancy`)."""
    out = _nan(len(a))
    clinician = np.flatnonzero(a.rater == CLINICIAN)
    client = np.flatnonzero(a.rater == CLIENT)
    if not len(clinician) or not len(client):
        return out
    width = int(a.session.max()) + 1
    measures = len(a.measure_ids)

    def key(rows: npt.NDArray[np.intp]) -> Ints:
        return (a.episode[rows] * measures + a.measure[rows]) * width + a.session[rows]

    # Clinician rows are sorted by these keys already (episode, measure, then session).
    known = key(clinician)
    wanted = key(client)
    at = np.searchsorted(known, wanted)
    at = np.minimum(at, len(known) - 1)
    hit = known[at] == wanted
    out[client[hit]] = a.score[client[hit]] - a.score[clinician[at[hit]]]
    return out


INDICATORS_MET: Objects = np.array(
    [
        ";".join(name for bit, name in enumerate(INDICATORS) if k >> bit & 1) or None
        for k in range(1 << len(INDICATORS))
    ],
    dtype=object,
)
"""The `risk_flags` text of each combination of indicators, by its bits."""


def measure_facts_of(models: Iterable[MeasureModel]) -> MeasureFacts:
    """What the dropout features need of each measure: kind, direction and range."""
    chosen = list(models)
    return MeasureFacts(
        kinds={m.id: m.kind for m in chosen},
        signs={m.id: m.sign for m in chosen},
        ranges={
            m.id: (m.minimum, m.maximum)
            for m in chosen
            if m.minimum is not None and m.maximum is not None
        },
    )


def session_rows(
    a: Administrations,
    rci: Floats,
    deteriorated: Flags,
    rupture: npt.NDArray[np.int8] | Objects,
    repair: npt.NDArray[np.int8] | Objects,
) -> SessionRows:
    """The administrations with their change and alliance marks, as the features read them."""
    return SessionRows(
        episode=a.episode,
        session=a.session,
        day=a.day,
        measure=a.measure,
        measures=a.measure_ids,
        client_rated=a.rater == CLIENT,
        score=a.score,
        rci=rci,
        deteriorated=deteriorated,
        rupture=np.asarray(rupture == 1 if rupture.dtype != object else rupture == True),  # noqa: E712
        repair=np.asarray(repair == 1 if repair.dtype != object else repair == True),  # noqa: E712
    )


def _low_alliance(
    models: Mapping[int, MeasureModel], a: Administrations, features: SessionFeatures
) -> Flags:
    """Per feature row (episode and session): the client's latest rating so far of an alliance
    measure is at or below that measure's low-alliance threshold (`MeasureModel.low_alliance`)."""
    low = np.zeros(len(features.session), dtype=np.bool_)
    width = int(max(a.session.max(), features.session.max())) + 1 if len(a) else 1
    known = features.episode * width + features.session
    for code, m in models.items():
        if m.kind != ALLIANCE or m.low_alliance is None:
            continue
        rows = np.flatnonzero((a.measure == code) & (a.rater == CLIENT) & ~np.isnan(a.score))
        if not len(rows):
            continue
        # Carry each rating forward to later sessions of its episode: rows are sorted by
        # episode and session within the measure, so a feature row takes the latest before it.
        keys = a.episode[rows] * width + a.session[rows]
        at = np.searchsorted(keys, known, side="right") - 1
        valid = at >= 0
        same = np.zeros(len(known), dtype=np.bool_)
        same[valid] = a.episode[rows[at[valid]]] == features.episode[valid]
        low |= same & (a.score[rows[np.maximum(at, 0)]] <= m.low_alliance)
    return low


def episode_endings(a: Administrations) -> Objects:
    """Each episode's ending, by number: "dropout" if any of its series says so, else
    "planned" if one does, else "" (not completed)."""
    n = int(a.episode.max()) + 1 if len(a) else 0
    dropout = np.zeros(n, dtype=np.bool_)
    planned = np.zeros(n, dtype=np.bool_)
    dropout[a.episode[a.ending == ENDINGS.index("dropout")]] = True
    planned[a.episode[a.ending == ENDINGS.index("planned")]] = True
    return np.asarray(np.where(dropout, "dropout", np.where(planned, "planned", "")).astype(object))


def _dropout(
    model: PracticeModel,
    models: Mapping[int, MeasureModel],
    a: Administrations,
    rci: Floats,
    reliable: npt.NDArray[np.int8],
    rupture: npt.NDArray[np.int8],
    repair: npt.NDArray[np.int8],
) -> tuple[Objects, Floats]:
    """Risk indicators met and, with a fitted dropout model, the risk of each session's rows.

    Features are per episode and session (`ally.feedback.dropout_features`); every row of a
    session gets its session's values.
    """
    rows = session_rows(a, rci, reliable == RELIABLE.index("deteriorated"), rupture, repair)
    features = features_of(rows, measure_facts_of(models.values()))
    columns = {name: features.column(name) for name in FEATURES}
    columns["session"] = features.session.astype(np.float64)
    flags = risk_indicators(columns)
    flags["low_alliance"] = _low_alliance(models, a, features)
    code = np.zeros(len(features.session), dtype=np.int64)
    for bit, name in enumerate(INDICATORS):
        code |= np.asarray(flags[name], dtype=np.int64) << bit
    per_session = np.asarray(INDICATORS_MET[code], dtype=object)
    risk = _nan(len(features.session))
    if model.dropout is not None:
        wanted = model.dropout.features
        risk = model.dropout.predict_proba(np.column_stack([columns[f] for f in wanted]))
    # Back to the rows: features are sorted by episode and session.
    width = int(max(a.session.max(), features.session.max())) + 1 if len(a) else 1
    known = features.episode * width + features.session
    at = np.searchsorted(known, a.episode * width + a.session)
    at = np.minimum(at, max(len(known) - 1, 0))
    found = (known[at] == a.episode * width + a.session) if len(known) else np.zeros(len(a), bool)
    flags_out: Objects = np.full(len(a), None, dtype=object)
    risk_out = _nan(len(a))
    flags_out[found] = per_session[at[found]]
    risk_out[found] = risk[at[found]]
    return flags_out, risk_out
