"""`ally analyze`: score every administration, measure change per session and per episode.

The pipeline is Ibis over an embedded DuckDB; the statistics come from `ally.change`, applied
to columns, so a batch result equals what the core gives for one client.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import ibis
import numpy as np
from ibis.expr.types import Table, Value
from tqdm import tqdm

from ally.change.categories import FALLBACK, Category, episode_conditions, sample_cutoff
from ally.change.cutoffs import CutoffType
from ally.change.reliable import (
    ReliableChange,
    SampleStats,
    cronbach_alpha,
    is_deteriorated,
    is_improved,
    reliable_change,
    reliable_change_value,
)
from ally.engine import columns as col
from ally.engine.errors import AnalysisError
from ally.engine.feedback import (
    OutcomePlan,
    is_outcome,
    load_models,
    outcome_columns,
    outcome_plan,
)
from ally.engine.options import MeasureParams, Options, measure_params
from ally.engine.read import connect, read_input, stored
from ally.engine.risk import load_model, with_dropout_risk
from ally.engine.rows import (
    MeasureRows,
    as_given,
    band,
    cases_or_null,
    check_measures,
    item_numbers,
    normalise,
    typed,
)
from ally.engine.series import series_results
from ally.feedback.etr import EtrModel
from ally.measures.library import Library, load_library

KEYS = (col.CLIENT, col.EPISODE, col.MEASURE, col.RATER)


@dataclass
class MeasureSummary:
    measure: str
    rater: str
    episodes: int = 0
    complete: int = 0
    categories: Counter[str] = field(default_factory=Counter)
    reliable: Counter[str] = field(default_factory=Counter)
    cutoff: float | None = None
    stats: SampleStats | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Summary:
    rows_read: int = 0
    administrations: int = 0
    rejected: int = 0
    empty_cells: int = 0
    measures: list[MeasureSummary] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Stages:
    """A progress bar over the run's stages, shown on an interactive terminal."""

    def __init__(self, total: int, enabled: bool | None) -> None:
        self.bar = tqdm(total=total, disable=None if enabled is None else not enabled, unit="step")

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.bar.set_description(name)
        yield
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def _resolve_params(table: Table, options: Options, library: Library) -> dict[str, MeasureParams]:
    """Parameters for each measure the file names; unknown ones only with command-line values."""
    names = table.select(col.MEASURE).distinct().execute()[col.MEASURE].dropna().tolist()
    known: dict[str, MeasureParams] = {}
    for name in sorted(names):
        measure = library.measures.get(name)
        if measure is None and (options.reliability is None or options.direction is None):
            continue
        known[name] = measure_params(name, measure, options)
    return known


# Fewer complete administrations than this give too unstable an estimate to rely on.
MIN_FOR_ALPHA = 30


def _estimated_reliabilities(
    table: Table, params: Mapping[str, MeasureParams], summary: Summary
) -> dict[str, MeasureParams]:
    """Cronbach's alpha from the practice's own complete item answers, for measures that
    publish no reliability (e.g. the Ally alliance check-in) and get none on the command line."""
    out = dict(params)
    items = item_numbers(table)
    for name, p in params.items():
        m = p.measure
        if p.reliability is not None or m is None or len(m.items) < 2:
            continue
        if any(n not in items for n in range(1, len(m.items) + 1)):
            continue
        t = table.filter(
            (table[col.MEASURE] == name)
            & (table[col.RATER].fill_null("client") == "client")
            & (table[col.ANSWERED] == len(m.items))
        )
        row = (
            t.aggregate(
                n=t.count(),
                total=t[col.ITEMS_TOTAL].var(how="sample"),
                **{
                    f"v{n}": t[col.value_column(n)].var(how="sample")
                    for n in range(1, len(m.items) + 1)
                },
            )
            .execute()
            .iloc[0]
        )
        n = int(row["n"])
        if n < MIN_FOR_ALPHA:
            continue
        variances = [float(row[f"v{k}"]) for k in range(1, len(m.items) + 1)]
        try:
            alpha = cronbach_alpha(variances, float(row["total"]))
        except ValueError:
            continue
        if not 0 < alpha < 1:
            continue
        out[name] = replace(p, reliability=alpha)
        summary.notes.append(
            f"{name}: no published reliability; Cronbach's alpha {alpha:.3f} estimated from "
            f"{n:,} complete client-rated administrations is used"
        )
    return out


def _drop(backend: ibis.BaseBackend, name: str) -> None:
    """Free a stored stage that no later stage reads."""
    backend.con.execute(f"DROP TABLE IF EXISTS {name}")


def _row_reason(table: Table, params: Mapping[str, MeasureParams], with_session: bool) -> Value:
    """The first rule the row breaks, as a message; null for a good row."""
    t = table
    session = t[col.SESSION_NUMBER]
    date = t[col.DATE_VALUE]
    session_given = as_given(t, col.SESSION, col.SESSION_NUMBER)
    date_given = as_given(t, col.DATE, col.DATE_VALUE)
    checks: list[tuple[Value, Value]] = [
        (t[col.CLIENT].isnull(), ibis.literal("client is empty")),
        (t[col.MEASURE].isnull(), ibis.literal("measure is empty")),
        (
            t[col.RATER].notnull() & ~t[col.RATER].isin(list(col.RATERS)),
            ibis.literal("rater ") + t[col.RATER] + " must be client or clinician",
        ),
        (
            t[col.ENDING].notnull() & ~t[col.ENDING].isin(list(col.ENDINGS)),
            ibis.literal("ending ") + t[col.ENDING] + " must be planned, dropout or ongoing",
        ),
        (
            session_given.notnull() & (session.isnull() | (session < 1)),
            ibis.literal("session ")
            + session_given.cast("string")
            + " is not a whole number from 1 up",
        ),
        (
            date_given.notnull() & date.isnull(),
            ibis.literal("date ")
            + date_given.cast("string")
            + " is not an ISO 8601 date (YYYY-MM-DD)",
        ),
    ]
    if with_session:
        checks.append((session_given.isnull(), ibis.literal("session is empty")))
    else:
        checks.append((date_given.isnull(), ibis.literal("date is empty")))
    items = item_numbers(t)
    for name, p in params.items():
        rows = MeasureRows(t, p, items)
        checks.extend(((t[col.MEASURE] == name) & cond, msg) for cond, msg in rows.problems())
    return ibis.cases(*((cond.fill_null(False), msg) for cond, msg in checks))


def _by_measure(
    table: Table,
    params: Mapping[str, MeasureParams],
    pick: Callable[[MeasureRows], Value | None],
    dtype: str,
) -> Value:
    """One expression that applies each measure's own rule to its rows."""
    items = item_numbers(table)
    branches = []
    for name, p in params.items():
        value = pick(MeasureRows(table, p, items))
        if value is not None:
            branches.append((table[col.MEASURE] == name, value))
    return cases_or_null(branches, dtype)


def _item_totals(table: Table, params: Mapping[str, MeasureParams]) -> Table:
    """The total of each row's item answers, as its measure scores them.

    Stored before the row checks, which compare it with a given score, so that DuckDB
    computes it once.
    """
    return table.mutate(
        **{col.ITEMS_TOTAL: _by_measure(table, params, lambda r: r.item_score(), "float64")}
    )


def _scored(table: Table, params: Mapping[str, MeasureParams]) -> Table:
    """Score, subscales and critical flag of each row, by its measure's rules."""
    subscale_ids = sorted(
        {sub.id for p in params.values() if p.measure for sub in p.measure.scoring.subscales}
    )

    def subscale(sid: str) -> Callable[[MeasureRows], Value | None]:
        return lambda rows: rows.subscales().get(col.subscale_column(sid))

    subscales = {
        col.subscale_column(sid): _by_measure(table, params, subscale(sid), "float64")
        for sid in subscale_ids
    }
    return table.mutate(
        **{col.SCORE_VALUE: _by_measure(table, params, lambda r: r.score(), "float64")},
        **subscales,
        critical=_by_measure(table, params, lambda r: r.critical(), "boolean"),
    )


def _band(table: Table, params: Mapping[str, MeasureParams]) -> Value:
    branches = []
    for name, p in params.items():
        value = band(table[col.SCORE_VALUE], p.measure)
        if value is not None:
            branches.append((table[col.MEASURE] == name, value))
    return cases_or_null(branches, "string")


def analyze(options: Options) -> Summary:
    """Run the whole analysis and write `sessions`, `episodes` and `rejected.csv` to options.out."""
    library = load_library(options.measures_dirs)
    stages = Stages(8, options.progress)
    try:
        with tempfile.TemporaryDirectory(prefix="ally-spill-") as spill:
            backend = connect(options.threads, options.memory_limit, Path(spill))
            return _analyze(options, library, stages, backend)
    finally:
        stages.close()


def _analyze(
    options: Options, library: Library, stages: Stages, backend: ibis.BaseBackend
) -> Summary:
    summary = Summary()
    with stages.stage("reading"):
        raw = read_input(backend, options.input)
        summary.rows_read = int(raw.count().execute())
        table = normalise(raw, options)
        if options.wide_measures:
            cells = summary.rows_read * len(options.wide_measures)
            summary.empty_cells = cells - int(table.count().execute())
        params = _resolve_params(table, options, library)
        check_measures(table, params)

    with stages.stage("checking and scoring"):
        with_session = col.SESSION in raw.columns or options.session_column in raw.columns
        # Typed values and item totals are stored once, not recomputed by every rule that
        # reads them (DuckDB does not share repeated subexpressions).
        table = stored(backend, "ally_typed", _item_totals(typed(table), params))
        params = _estimated_reliabilities(table, params, summary)
        t = table.mutate(reason=_row_reason(table, params, with_session))
        t = _scored(t, params)
        t = t.mutate(
            rater=t[col.RATER].fill_null("client"),
            episode=t[col.EPISODE].fill_null(t[col.CLIENT]),
        )
        # Only what later stages read: answers are scored and no longer needed.
        kept = [*col.IDENTIFIERS, col.MEASURE, col.RATER, col.SESSION_NUMBER, col.DATE_VALUE]
        kept += [col.ENDING]
        kept += [col.LINE, col.SCORE_VALUE, "critical", "reason"]
        kept += [c for c in t.columns if c.startswith("subscale_")]
        t = stored(backend, "ally_checked", t.select(*kept))
        _drop(backend, "ally_typed")
        good = t.filter(t.reason.isnull())
        rejected = t.filter(t.reason.notnull()).select(col.LINE, col.MEASURE, "reason")
        # A second answer for the same session, measure and rater is a duplicate, not an update.
        slot = [*KEYS, col.SESSION_NUMBER if with_session else col.DATE_VALUE]
        repeated = stored(
            backend,
            "ally_repeated",
            good.group_by(slot)
            .aggregate(first_line=good[col.LINE].min(), copies=good.count())
            .filter(lambda g: g.copies > 1),
        )
        has_duplicates = int(repeated.count().execute()) > 0
        if has_duplicates:
            duplicates = good.join(repeated, slot).filter(lambda d: d[col.LINE] != d.first_line)
            duplicates = duplicates.mutate(
                reason=ibis.literal("duplicate of line ")
                + duplicates.first_line.cast("string")
                + " (same client, episode, session, measure and rater)"
            ).select(col.LINE, col.MEASURE, "reason")
            rejected = rejected.union(duplicates)
        rejected = stored(backend, "ally_rejected", rejected)
        summary.rejected = int(rejected.count().execute())
        if summary.rejected and options.strict:
            _write_rejected(backend, raw, rejected, options)
            raise AnalysisError(
                f"{summary.rejected} rows break the input rules and --strict is on; "
                f"see {options.out / 'rejected.csv'} for each line and its reason."
            )
        if has_duplicates:
            good = good.anti_join(rejected, col.LINE)
        if not with_session:
            order = ibis.window(
                group_by=[good[col.CLIENT], good[col.EPISODE]], order_by=good.date_value
            )
            good = good.mutate(session_number=good.date_value.dense_rank().over(order) + 1)
        scored = good
        cells = summary.rows_read * max(1, len(options.wide_measures))
        summary.administrations = cells - summary.empty_cells - summary.rejected

    with stages.stage("episodes"):
        episodes = stored(backend, "ally_episodes", _episodes(scored, options))

    with stages.stage("reliable change"):
        models = _change_models(episodes, params, summary)
        fitted = load_models(options.etr_models, params)
        plans = _outcome_plans(params, models, fitted, summary) if options.feedback else {}
        _note_missing_intake(episodes, plans, summary)
        dropout = load_model(options.dropout_model)
        if options.feedback and dropout is None:
            summary.notes.append(
                "dropout risk: no model given (fit one with `ally risk fit` once the practice "
                "has enough completed episodes); risk_flags shows the transparent indicators"
            )

    with stages.stage("sudden gains and ruptures"):
        # Each administration with its episode's index and baseline, joined once.
        first = episodes.select(
            *KEYS, "episode_index", "earliest_session", baseline=episodes.first_score
        )
        base = stored(backend, "ally_base", scored.join(first, list(KEYS)))
        # Everything later reads the base, episodes and rejected tables only.
        _drop(backend, "ally_checked")
        rules = options.rupture_config if options.feedback else None
        series = series_results(backend, base, episodes, params, models, rules)

    with stages.stage("signals and dropout risk"):
        sessions_out = _sessions_table(base, series.sessions, params, models, plans)
        # Stored once: the risk features read it several times over.
        sessions_out = stored(backend, "ally_sessions", sessions_out)
        if options.feedback:
            sessions_out = with_dropout_risk(backend, sessions_out, library, dropout)
        else:
            sessions_out = sessions_out.mutate(
                risk_flags=ibis.null("string"), dropout_risk=ibis.null("float64")
            )

    with stages.stage("writing sessions"):
        options.out.mkdir(parents=True, exist_ok=True)
        sessions_out = sessions_out.order_by(["episode_index", "session"]).drop("episode_index")
        summary.outputs.append(_write(backend, sessions_out, "sessions", options))

    with stages.stage("writing episodes"):
        episodes_out = _episodes_table(episodes, series.episodes, params, models)
        summary.outputs.append(_write(backend, episodes_out, "episodes", options))
        summary.outputs.append(_write_rejected(backend, raw, rejected, options))
        _count(episodes_out, summary)
    return summary


def _episodes(scored: Table, options: Options) -> Table:
    """One row per episode, measure and rater: first and last session, pre and post scores."""
    s = scored
    score = s[col.SCORE_VALUE]
    session = s.session_number
    if options.pre is not None:
        pre = score.max(where=session == options.pre)
    else:
        pre = score.argmin(session)
    if options.post is not None:
        post = score.max(where=session == options.post)
    else:
        post = score.argmax(session)
    return (
        s.group_by(list(KEYS))
        .aggregate(
            clinician=s[col.CLINICIAN].argmin(session),
            group=s[col.GROUP].argmin(session),
            # The ending is known on the episode's rows; the last one that says it counts.
            ending=s[col.ENDING].argmax(ibis.ifelse(s[col.ENDING].notnull(), session, -1)),
            sessions=s.count(),
            first_session=session.min() if options.pre is None else ibis.literal(options.pre),
            last_session=session.max() if options.post is None else ibis.literal(options.post),
            latest_session=session.max(),
            earliest_session=session.min(),
            first_score=pre,
            last_score=post,
        )
        .mutate(episode_index=ibis.row_number().over(order_by=list(KEYS)))
    )


def _change_models(
    episodes: Table, params: Mapping[str, MeasureParams], summary: Summary
) -> dict[tuple[str, str], tuple[ReliableChange | None, float | None]]:
    """The reliable-change model and clinical cut-off of each measure and rater."""
    e = episodes
    complete = e.filter(e.first_score.notnull() & e.last_score.notnull())
    stats = (
        complete.group_by([col.MEASURE, col.RATER])
        .aggregate(
            n=complete.count(),
            m_pre=complete.first_score.mean(),
            sd_pre=complete.first_score.std(how="sample"),
            m_post=complete.last_score.mean(),
            sd_post=complete.last_score.std(how="sample"),
            r12=complete.first_score.corr(complete.last_score, how="pop"),  # n cancels in r
        )
        .execute()
    )
    counts = e.group_by([col.MEASURE, col.RATER]).aggregate(n=e.count()).execute()
    by_key = {(r[col.MEASURE], r[col.RATER]): r for _, r in stats.iterrows()}
    models: dict[tuple[str, str], tuple[ReliableChange | None, float | None]] = {}
    for _, row in counts.sort_values([col.MEASURE, col.RATER]).iterrows():
        key = (row[col.MEASURE], row[col.RATER])
        p = params[key[0]]
        ms = MeasureSummary(measure=key[0], rater=key[1], episodes=int(row["n"]))
        summary.measures.append(ms)
        found = by_key.get(key)
        ms.complete = int(found["n"]) if found is not None else 0
        model = None
        cutoff = p.cutoff
        if found is None or int(found["n"]) < 3 or not np.isfinite(found["sd_pre"]):
            ms.notes.append("fewer than 3 episodes with both a first and a last score: no RCI")
        elif p.reliability is None:
            ms.notes.append("no reliability known: give --reliability for the RCI")
        else:
            ms.stats = SampleStats(
                n=int(found["n"]),
                m_pre=float(found["m_pre"]),
                sd_pre=float(found["sd_pre"]),
                m_post=float(found["m_post"]),
                sd_post=float(found["sd_post"]),
                r12=float(found["r12"]) if np.isfinite(found["r12"]) else 0.0,
            )
            model = reliable_change(p.method, ms.stats, p.reliability, p.reliability_post)
            if cutoff is None and p.functional is not None:
                cutoff = sample_cutoff(model, CutoffType.C, p.functional, p.sign)
        if cutoff is None and is_outcome(p):
            ms.notes.append("no cut-off: give --functional-mean and --functional-sd, or --cutoff")
        ms.cutoff = cutoff
        models[key] = (model, cutoff)
    return models


def _outcome_plans(
    params: Mapping[str, MeasureParams],
    models: Mapping[tuple[str, str], tuple[ReliableChange | None, float | None]],
    fitted: Mapping[str, EtrModel],
    summary: Summary,
) -> dict[str, OutcomePlan]:
    """How each outcome measure's signals are computed: its ETR, cut-off and reliable change."""
    plans = {}
    notes = {(m.measure, m.rater): m.notes for m in summary.measures}
    for name, p in params.items():
        if not is_outcome(p) or (name, "client") not in models:
            continue
        model, cutoff = models[(name, "client")]
        published = p.measure.reliable_change if p.measure else None
        if published is not None:
            value: float | None = published.value
        elif model is not None:
            value = reliable_change_value(model.stats.sd_pre, model.reliability)
        else:
            value = None
        plan = outcome_plan(p, fitted.get(name), cutoff, value)
        if plan is None:
            notes[(name, "client")].append("no reliable change value: no signals")
            continue
        plans[name] = plan
        notes[(name, "client")].append(f"signals from the {plan.source}")
    return plans


def _note_missing_intake(
    episodes: Table, plans: Mapping[str, OutcomePlan], summary: Summary
) -> None:
    """Say how many episodes get no signal because their session 1 is missing."""
    if not plans:
        return
    e = episodes
    late = e.filter((e[col.RATER] == "client") & (e.earliest_session > 1))
    counts = late.group_by(col.MEASURE).aggregate(n=late.count()).execute()
    notes = {(m.measure, m.rater): m.notes for m in summary.measures}
    for _, row in counts.iterrows():
        if row[col.MEASURE] in plans:
            notes[(row[col.MEASURE], "client")].append(
                f"{int(row['n'])} episodes have no session 1: no expected course or signal "
                "for them, since the intake score is unknown"
            )


def _by_key(
    t: Table,
    models: Mapping[tuple[str, str], tuple[ReliableChange | None, float | None]],
    make: Callable[[ReliableChange | None, float | None, tuple[str, str]], Value | None],
    dtype: str,
) -> Value:
    """One expression that applies each measure and rater's own rule to its rows."""
    branches = []
    for key, (model, cutoff) in models.items():
        value = make(model, cutoff, key)
        if value is not None:
            branches.append(((t[col.MEASURE] == key[0]) & (t[col.RATER] == key[1]), value))
    return cases_or_null(branches, dtype)


def _reliable_label(model: ReliableChange, sign: int, index: Value) -> Value:
    return ibis.cases(
        (is_improved(index, sign, model.critical), "improved"),
        (is_deteriorated(index, sign, model.critical), "deteriorated"),
        else_="unchanged",
    )


def _sessions_table(
    base: Table,
    series: Table,
    params: Mapping[str, MeasureParams],
    models: Mapping[tuple[str, str], tuple[ReliableChange | None, float | None]],
    plans: Mapping[str, OutcomePlan],
) -> Table:
    keys = ["episode_index", col.SESSION_NUMBER]
    t = base.left_join(series, keys).drop(*(f"{k}_right" for k in keys))
    # Where client and clinician rate the same session: client minus clinician, on the
    # client's row, as ally.feedback.alliance.discrepancy defines it.
    same = [col.CLIENT, col.EPISODE, col.MEASURE, col.SESSION_NUMBER]
    rated = base.filter(base[col.RATER] == "clinician")
    clinician = rated.select(*same, clinician_score=rated[col.SCORE_VALUE])
    t = t.left_join(clinician, same).drop(*(f"{k}_right" for k in same))
    t = t.mutate(
        discrepancy=ibis.ifelse(
            t[col.RATER] == "client", t[col.SCORE_VALUE] - t.clinician_score, ibis.null("float64")
        )
    )
    score = t[col.SCORE_VALUE]
    t = t.mutate(change=score - t.baseline)

    def index(model: ReliableChange | None, _: float | None, key: tuple[str, str]) -> Value | None:
        return model.index(t.baseline, score) if model else None

    t = t.mutate(rci=_by_key(t, models, index, "float64"))

    def label(model: ReliableChange | None, _: float | None, key: tuple[str, str]) -> Value | None:
        if model is None:
            return None
        return ibis.ifelse(
            t.rci.isnull(), ibis.null("string"), _reliable_label(model, params[key[0]].sign, t.rci)
        )

    t = t.mutate(reliable_change=_by_key(t, models, label, "string"))
    subscales = [c for c in base.columns if c.startswith("subscale_")]
    return t.select(
        col.CLIENT,
        col.EPISODE,
        col.CLINICIAN,
        col.GROUP,
        session=t.session_number,
        date=t.date_value,
        measure=t[col.MEASURE],
        rater=t[col.RATER],
        score=score,
        **{c: t[c] for c in subscales},
        band=_band(t, params),
        baseline=t.baseline,
        change=t.change,
        rci=t.rci,
        reliable_change=t.reliable_change,
        critical=t.critical,
        **outcome_columns(t, plans),
        rupture=t.rupture,
        repair=t.repair,
        rupture_subscale=t.rupture_subscale,
        discrepancy=t.discrepancy,
        episode_index=t.episode_index,
    )


def _episodes_table(
    episodes: Table,
    series: Table,
    params: Mapping[str, MeasureParams],
    models: Mapping[tuple[str, str], tuple[ReliableChange | None, float | None]],
) -> Table:
    e = episodes
    complete = e.first_score.notnull() & e.last_score.notnull()

    def index(model: ReliableChange | None, _: float | None, key: tuple[str, str]) -> Value | None:
        return model.index(e.first_score, e.last_score) if model else None

    e = e.mutate(change=e.last_score - e.first_score, rci=_by_key(e, models, index, "float64"))

    def label(model: ReliableChange | None, _: float | None, key: tuple[str, str]) -> Value | None:
        if model is None:
            return None
        return _reliable_label(model, params[key[0]].sign, e.rci)

    def category(
        model: ReliableChange | None, cutoff: float | None, key: tuple[str, str]
    ) -> Value | None:
        if model is None or cutoff is None:
            return None
        p = params[key[0]]
        conditions = episode_conditions(
            model,
            e.rci,
            e.first_score,
            e.last_score,
            cutoff,
            p.sign,
            cutoff_is_clinical=True if p.cutoff_inclusive else None,
        )
        return ibis.cases(*((cond, cat.value) for cat, cond in conditions), else_=FALLBACK.value)

    e = e.mutate(
        reliable_change=ibis.ifelse(complete, _by_key(e, models, label, "string"), None),
        category=ibis.ifelse(complete, _by_key(e, models, category, "string"), None),
    )
    e = e.join(series, "episode_index")
    return e.select(*col.EPISODE_COLUMNS).order_by(
        [col.CLIENT, col.EPISODE, col.MEASURE, col.RATER]
    )


def _write(backend: ibis.BaseBackend, table: Table, name: str, options: Options) -> str:
    path = options.out / f"{name}.{options.format}"
    if options.format == "parquet":
        backend.to_parquet(table, path)
    else:
        backend.to_csv(table, path)
    return str(path)


def _write_rejected(
    backend: ibis.BaseBackend, raw: Table, rejected: Table, options: Options
) -> str:
    """Each rejected row as it was in the file, with its line and reason first."""
    options.out.mkdir(parents=True, exist_ok=True)
    original = [c for c in raw.columns if c != col.LINE]
    joined = rejected.join(raw, col.LINE).select(
        col.LINE, "reason", **{f"{c}": raw[c] for c in original if c not in ("reason",)}
    )
    path = options.out / "rejected.csv"
    backend.to_csv(joined.order_by(col.LINE), path)
    return str(path)


def _count(episodes: Table, summary: Summary) -> None:
    counts = (
        episodes.group_by([col.MEASURE, col.RATER, "category", "reliable_change"])
        .aggregate(n=episodes.count())
        .execute()
    )
    by_key = {(m.measure, m.rater): m for m in summary.measures}
    for _, row in counts.iterrows():
        ms = by_key[(row[col.MEASURE], row[col.RATER])]
        if isinstance(row["category"], str):
            ms.categories[row["category"]] += int(row["n"])
        if isinstance(row["reliable_change"], str):
            ms.reliable[row["reliable_change"]] += int(row["n"])


__all__ = ["Category", "Summary", "analyze"]
