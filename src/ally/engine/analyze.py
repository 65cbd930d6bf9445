"""`ally analyze` and `ally fit`: score every administration, fit the practice model, apply it.

Reading, checking and scoring the rows is Ibis over an embedded DuckDB. The scored rows then
leave DuckDB once, as columns, for the core: `ally.feedback.fit` estimates the practice model
(`ally fit`) and `ally.feedback.results` applies it, the very function the web app calls for one
episode after each answer. So an episode's numbers are the same in a batch of one or of millions.
"""

from __future__ import annotations

import datetime as dt
import errno
import importlib
import os
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import numpy.typing as npt
import pyarrow as pa
from ibis.expr.types import Table, Value
from tqdm import tqdm

from ally.change.goals import GOALS
from ally.change.goals import MEASURE as GOAL_MEASURE
from ally.change.reliable import Method, PublishedChange, SampleStats
from ally.engine import columns as col
from ally.engine.administrations import (
    KEYS,
    STAGED,
    Pulled,
    apply_and_write_sessions,
    episodes_table,
    pull,
    release_freed,
    series_counts,
    with_earliest,
)
from ally.engine.backends import Applied, Engine, open_engine
from ally.engine.errors import AnalysisError
from ally.engine.options import Options, measure_params
from ally.engine.read import connect
from ally.engine.rows import (
    Check,
    as_given,
    check_measures,
    column_names,
    item_numbers,
    normalise,
    parse_problems,
    typed,
)
from ally.feedback.fit import FitOptions, fit_practice
from ally.feedback.group_checkin import reads_levels
from ally.feedback.practice import (
    ALLIANCE,
    ChangeModel,
    MeasureParams,
    PracticeModel,
    PracticeModelError,
)
from ally.feedback.results import RATERS
from ally.measures.library import Library, load_library


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
    sudden_gain_cutoff: float | None = None
    """Criterion 1 of sudden gains and losses in points; None: they were not looked for."""
    sudden_gain_source: str = ""
    sudden_gains: int = 0
    sudden_losses: int = 0
    episodes_with_gains: int = 0
    """Episodes with at least one sudden gain."""
    episodes_with_losses: int = 0


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


def _complete_items(
    table: Table, params: Mapping[str, MeasureParams]
) -> dict[str, npt.NDArray[np.float64]]:
    """Complete client-rated item answers of the measures that publish no reliability (and get
    none on the command line), and of alliance measures with subscales, for Cronbach's alpha
    (`ally.feedback.fit`)."""
    out = {}
    items = item_numbers(table)
    for name, p in params.items():
        m = p.measure
        if m is None or len(m.items) < 2:
            continue
        # An alliance measure's subscales need their items' alpha for their own ruptures.
        in_subscales = m.kind.value == ALLIANCE and any(
            len(s.items) >= 2 for s in m.scoring.subscales
        )
        if p.reliability is not None and not in_subscales:
            continue
        numbers = range(1, len(m.items) + 1)
        if any(n not in items for n in numbers):
            continue
        t = table.filter(
            (table[col.MEASURE] == name)
            & (table[col.RATER].fill_null("client") == "client")
            & (table[col.ANSWERED] == len(m.items))
        )
        pulled = t.select(*(col.value_column(n) for n in numbers)).to_pyarrow()
        out[name] = (
            np.column_stack([np.asarray(c.to_numpy(), dtype=np.float64) for c in pulled.columns])
            if pulled.num_rows
            else np.empty((0, len(m.items)))
        )
    return out


def _row_checks(
    table: Table, params: Mapping[str, MeasureParams], with_session: bool, options: Options
) -> list[Check]:
    """The rules a row can break, in the order its reason names the first broken one."""
    t = table
    session = t[col.SESSION_NUMBER]
    session_given = as_given(t, col.SESSION, col.SESSION_NUMBER)
    date_given = as_given(t, col.DATE, col.DATE_VALUE)
    checks: list[Check] = [
        (t[col.CLIENT].isnull(), ibis.literal("client is empty"), "client is empty"),
        (t[col.MEASURE].isnull(), ibis.literal("measure is empty"), "measure is empty"),
        (
            t[col.RATER].notnull() & ~t[col.RATER].isin(list(col.RATERS)),
            ibis.literal("rater ") + t[col.RATER] + " must be client or clinician",
            "rater must be client or clinician",
        ),
        (
            t[col.ENDING].notnull() & ~t[col.ENDING].isin(list(col.ENDINGS)),
            ibis.literal("ending ") + t[col.ENDING] + " must be planned, dropout or ongoing",
            "ending must be planned, dropout or ongoing",
        ),
        (
            session_given.notnull() & (session.isnull() | (session < 1)),
            ibis.literal("session ")
            + session_given.cast("string")
            + " is not a whole number from 1 up",
            "session is not a whole number from 1 up",
        ),
    ]
    if with_session:
        empty = "session is empty"
        checks.append((session_given.isnull(), ibis.literal(empty), empty))
    else:
        # Without session numbers the date orders the sessions, so it must be read. With them,
        # a date that cannot be read is left empty instead (`_unread_dates`).
        shape = _date_shape(options)
        checks.append(
            (
                date_given.notnull() & t[col.DATE_VALUE].isnull(),
                ibis.literal("date ") + date_given.cast("string") + f" {shape}",
                f"date {shape}",
            )
        )
        checks.append((date_given.isnull(), ibis.literal("date is empty"), "date is empty"))
    checks.extend(parse_problems(t, params))
    return checks


def _checked(t: Table) -> Table:
    """The scored rows with the core's problems among their reasons, and only the columns later
    stages read: answers are scored and no longer needed."""
    # The core's reasons name values too; their rule drops the given score and the total.
    core_rule = t.measure_reason.re_replace(r"^score \S+ ", "score ").re_replace(r", [0-9.]+$", "")
    t = t.mutate(reason=t.reason.coalesce(t.measure_reason), rule=t.rule.coalesce(core_rule))
    kept = [*col.IDENTIFIERS, col.MEASURE, col.RATER, col.SESSION_NUMBER, col.DATE_VALUE]
    kept += [col.ENDING]
    kept += [col.LINE, col.SCORE_VALUE, "critical", "reason", "rule", "date_unread"]
    kept += [col.subscale_column(x) for x in col.subscales_in(t.columns)]
    # A goal-progress row's answers are its goals' ratings, which `episodes` reports.
    on_goals = t[col.MEASURE] == GOAL_MEASURE
    ratings = {
        col.goal_rating_column(n): ibis.ifelse(on_goals, t[col.value_column(n)], ibis.null())
        for n in range(1, GOALS + 1)
        if col.value_column(n) in t.columns
    }
    return t.select(*kept, **ratings)


def _date_shape(options: Options) -> str:
    if options.date_format is None:
        return "is not an ISO 8601 date (YYYY-MM-DD)"
    return f"does not match --date-format {options.date_format}"


def _first_broken(checks: list[Check]) -> tuple[Value, Value]:
    """The reason and the rule of the first check a row fails; null for a good row."""
    reason = ibis.cases(*((cond.fill_null(False), msg) for cond, msg, _ in checks))
    rule = ibis.cases(*((cond.fill_null(False), ibis.literal(r)) for cond, _, r in checks))
    return reason, rule


def analyze(options: Options) -> Summary:
    """Run the whole analysis and write `sessions`, `episodes` and `rejected.csv` to options.out."""
    return _run(options, _apply)


def fit(options: Options, fitted_at: str | None = None) -> tuple[PracticeModel, Summary]:
    """Score the input and fit its practice model (`ally fit`); nothing is written. The input
    may also be a folder `ally analyze` wrote: its scores are used as they are."""
    if options.input.is_dir():
        return _fit_analysis(options, fitted_at)
    found: list[PracticeModel] = []

    def keep(options: Options, engine: Engine, scored: Scored, summary: Summary) -> None:
        found.append(_fitted(options, scored, _pulled(options, engine, scored, summary), fitted_at))

    summary = _run(options, keep, stages=4)
    return found[0], summary


def _analysis_table(backend: ibis.BaseBackend, folder: Path, name: str) -> Table:
    for suffix in (".parquet", ".csv"):
        path = folder / f"{name}{suffix}"
        if not path.exists():
            continue
        # `ally analyze --engine spark` writes each output as a folder of part files.
        source: Path | list[str] = path
        if path.is_dir():
            source = [str(part) for part in sorted(path.glob(f"part-*{suffix}"))]
            if not source:
                raise AnalysisError(f"{path}: is a folder without {suffix} part files.")
        if suffix == ".parquet":
            return backend.read_parquet(source)
        text = {c: "string" for c in (col.CLIENT, col.EPISODE, col.CLINICIAN, col.GROUP)}
        return backend.read_csv(source, types=text)
    raise AnalysisError(
        f"{folder}: no {name}.csv or {name}.parquet. Give an input file, or the folder "
        "`ally analyze --out` wrote."
    )


def _fit_analysis(options: Options, fitted_at: str | None) -> tuple[PracticeModel, Summary]:
    """The practice model of an analysis' scores (its `sessions` and the episodes' endings).

    Item answers are not in an analysis, so Cronbach's alpha cannot be estimated from it: a
    measure without a published reliability gets none (give --reliability, or fit on the input).
    """
    library = load_library(options.measures_dirs)
    backend = connect(options.threads, options.memory_limit)
    sessions = _analysis_table(backend, options.input, "sessions")
    episodes = _analysis_table(backend, options.input, "episodes")
    keys = list(KEYS)
    if col.ENDING in episodes.columns:
        endings = episodes.select(*keys, _given_ending=episodes[col.ENDING])
        sessions = sessions.left_join(endings, keys).drop(
            *(f"{k}_right" for k in keys if f"{k}_right" in sessions.columns)
        )
    else:
        sessions = sessions.mutate(_given_ending=ibis.null("string"))
    sessions = sessions.select(
        *(c for c in sessions.columns if not c.endswith("_right") and c != "_given_ending"),
        _given_ending=sessions._given_ending,
    )
    scored = sessions.mutate(
        **{
            col.SESSION_NUMBER: sessions[col.SESSION].cast("int64"),
            col.DATE_VALUE: sessions[col.DATE].cast("date"),
            col.SCORE_VALUE: sessions[col.SCORE].cast("float64"),
            col.ENDING: sessions._given_ending.cast("string"),
        }
    )
    params = _resolve_params(scored, options, library)
    check_measures(scored.mutate(**{col.LINE: ibis.literal(0)}), params)
    subscales = col.subscales_in(scored.columns)
    summary = Summary()
    summary.rows_read = summary.administrations = int(scored.count().execute())
    scored_rows = Scored(scored, scored, scored.limit(0), params, {}, subscales)
    model = _fitted(options, scored_rows, pull(scored, subscales), fitted_at)
    return model, summary


@dataclass
class Scored:
    """The input's good rows, scored, with what the later stages need."""

    raw: Table
    rows: Table
    rejected: Table
    params: dict[str, MeasureParams]
    items: dict[str, npt.NDArray[np.float64]]
    subscales: tuple[str, ...]


FIT_LIBRARIES = ("statsmodels.regression.quantile_regression", "sklearn.model_selection")
"""The libraries the practice model's fit imports when it first needs them: 1.2 to 1.6 s of
Python at their first import, which is waited for at the fit unless made earlier."""


def _import_soon(names: tuple[str, ...]) -> None:
    """Import `names` in a thread of their own, while the engine stores a stage without
    Python's lock; the fit then finds them imported (Python's import lock makes a fit that
    comes first wait for them). An import that fails here fails again where it is needed, with
    its error there, not in this thread."""

    def imported() -> None:
        for name in names:
            try:
                importlib.import_module(name)
            except Exception:  # raised again, and said, where it is needed
                continue

    threading.Thread(target=imported, name="ally-imports", daemon=True).start()


def _run(
    options: Options,
    then: Callable[[Options, Engine, Scored, Summary], None],
    stages: int = 6,
) -> Summary:
    library = load_library(options.measures_dirs)
    progress = Stages(stages, options.progress)
    try:
        with tempfile.TemporaryDirectory(prefix="ally-spill-") as spill:
            engine = open_engine(options, Path(spill))
            try:
                summary = Summary()
                scored = _score(options, library, progress, engine, summary)
                then(options, engine, scored, summary)
                return summary
            except AnalysisError:
                raise
            except Exception as exc:
                explained = engine.explain(exc)
                if explained is None:
                    raise
                raise explained from exc
            finally:
                engine.close()
    finally:
        progress.close()


def _score(
    options: Options,
    library: Library,
    stages: Stages,
    engine: Engine,
    summary: Summary,
) -> Scored:
    with stages.stage("reading"):
        found_input = engine.read(options)
        raw = found_input.rows
        summary.notes.extend(found_input.notes)
        rows = int(raw.count().execute())
        unreadable = int(found_input.unreadable.count().execute())
        summary.rows_read = rows + unreadable
        if summary.rows_read == 0:
            raise AnalysisError(
                f"{options.input}: has no rows below its header, so there is nothing to analyse."
            )
        table = normalise(raw, options)
        if options.wide_measures:
            cells = rows * len(options.wide_measures)
            summary.empty_cells = cells - int(table.count().execute())
        params = _resolve_params(table, options, library)
        check_measures(table, params)

    with stages.stage("checking and scoring"):
        with_session = col.SESSION in column_names(raw, options)
        # Typed values are stored once, not recomputed by every rule that reads them (DuckDB
        # does not share repeated subexpressions). The rules that need no score are checked as
        # they are stored, on every thread, not where the scores are set beside the rows
        # (`DuckDB.checked`, on one thread).
        table = typed(table, options.decimal, options.date_format, engine.parse_date)
        if options.model is None and options.feedback:
            _import_soon(FIT_LIBRARIES)
        reason, rule = _first_broken(_row_checks(table, params, with_session, options))
        date_given = as_given(table, col.DATE, col.DATE_VALUE)
        table = engine.stored(
            "ally_typed",
            table.mutate(
                reason=reason,
                rule=rule,
                date_unread=date_given.notnull() & table[col.DATE_VALUE].isnull(),
                rater=table[col.RATER].fill_null("client"),
                episode=table[col.EPISODE].fill_null(table[col.CLIENT]),
            ),
        )
        items = _complete_items(table, params) if options.model is None else {}
        t = engine.checked("ally_checked", table, params, _checked)
        engine.drop("ally_typed")
        good = t.filter(t.reason.isnull())
        rejected = t.filter(t.reason.notnull()).select(col.LINE, col.MEASURE, "reason", "rule")
        # Duplicates (a second answer for the same session, measure and rater) are found when
        # the good rows are sorted (`ally.engine.administrations.pull`), next to their first.
        if unreadable:
            lines = found_input.unreadable
            rejected = rejected.union(
                lines.select(
                    lines[col.LINE].cast("int64").name(col.LINE),
                    ibis.null("string").name(col.MEASURE),
                    lines.reason,
                    lines.rule,
                )
            )
        rejected = engine.stored("ally_rejected", rejected)
        summary.rejected = int(rejected.count().execute())
        if not with_session:
            order = ibis.window(
                group_by=[good[col.CLIENT], good[col.EPISODE]], order_by=good.date_value
            )
            good = good.mutate(session_number=good.date_value.dense_rank().over(order) + 1)
        cells = rows * max(1, len(options.wide_measures))
        summary.administrations = cells - summary.empty_cells - (summary.rejected - unreadable)
        if summary.administrations <= 0:
            # No good rows, so no duplicates among them: every rejected row is known.
            _refuse_if_strict(engine, raw, rejected, options, summary)
            raise _nothing_left(engine, raw, rejected, options, summary)
        if with_session:
            _unread_dates(good, options, summary)
        good = good.drop("rule", "date_unread")
    return Scored(raw, good, rejected, params, items, col.subscales_in(good.columns))


def _pulled(
    options: Options, engine: Engine, scored: Scored, summary: Summary, fit: bool = True
) -> Pulled:
    """The good rows as the core's columns, less their duplicates, which join the rejected rows;
    with --strict, any rejected row stops the run here. `fit`: a practice model is fitted from
    them (`Engine.pull`)."""
    pulled = engine.pull(scored.rows, scored.subscales, fit)
    release_freed()  # the fetched batches are gone now
    repeated = pulled.duplicates.num_rows
    if repeated:
        scored.rejected = scored.rejected.union(ibis.memtable(pulled.duplicates))
        summary.rejected += repeated
        summary.administrations -= repeated
    _refuse_if_strict(engine, scored.raw, scored.rejected, options, summary)
    return pulled


def _refuse_if_strict(
    engine: Engine, raw: Table, rejected: Table, options: Options, summary: Summary
) -> None:
    if summary.rejected and options.strict:
        where = _write_rejected(engine, raw, rejected, options)
        raise AnalysisError(
            f"{summary.rejected} rows break the input rules and --strict is on; "
            f"see {where} for each line and its reason."
        )


def _nothing_left(
    engine: Engine, raw: Table, rejected: Table, options: Options, summary: Summary
) -> AnalysisError:
    """The error for a run whose every row was rejected: the commonest reasons, and the options
    that read files written another way (the usual cause when every row fails)."""
    if not summary.rejected:
        return AnalysisError(
            f"{options.input}: every cell of the --measures columns is empty, so there is "
            "nothing to analyse."
        )
    where = _write_rejected(engine, raw, rejected, options)
    common = (
        rejected.group_by("rule")
        .aggregate(
            rows=rejected.count(),
            first_line=rejected[col.LINE].min(),
            example=rejected.reason.argmin(rejected[col.LINE]),
        )
        .order_by([ibis.desc("rows"), "first_line"])
        .limit(3)
        .execute()
    )
    listed = "; ".join(
        f"{int(r['rows']):,} {'row' if r['rows'] == 1 else 'rows'}: {r['rule']} "
        f"(first on line {int(r['first_line'])}: "
        f"{r['example']})"
        for _, r in common.iterrows()
    )
    return AnalysisError(
        f"every row of {options.input} was rejected ({summary.rejected:,} rows), so there is "
        f"nothing to analyse. The commonest reasons: {listed}. Each line and its reason are in "
        f"{where}. If the file is written another way, say how: "
        "--delimiter ';' (fields separated by ;), --decimal , (decimal commas), "
        "--date-format %d.%m.%Y (dates like 22.11.2026), --encoding latin-1, and "
        "--client-column, --session-column, --date-column, --measure-column or "
        "--score-column for other column names."
    )


def _unread_dates(good: Table, options: Options, summary: Summary) -> None:
    """Say how many dates were left empty because they could not be read: rows with session
    numbers are kept without them."""
    unread = good.filter(good.date_unread)
    counted = unread.aggregate(rows=unread.count(), first_line=unread[col.LINE].min()).execute()
    count = int(counted["rows"].iloc[0])
    if count:
        summary.notes.append(
            f"{count:,} dates could not be read (first on line "
            f"{int(counted['first_line'].iloc[0])}: the date {_date_shape(options)}); their "
            "rows are analysed by session number with the date left empty. Give "
            "--date-format if the dates are written another way (e.g. %d.%m.%Y)."
        )


def _fitted(
    options: Options,
    scored: Scored,
    pulled: Pulled,
    fitted_at: str | None = None,
    *,
    expected_course: bool = True,
) -> PracticeModel:
    """The practice model of the scored rows, as `ally fit` saves it. `expected_course=False`
    leaves out the expected courses (an analysis without feedback applies none)."""
    unknown = sorted(set(options.sudden_gain_cutoffs) - set(scored.params))
    if unknown:
        raise AnalysisError(
            f"--sudden-gain-cutoff names {', '.join(unknown)}, which the input does not have; "
            f"its measures are {', '.join(sorted(scored.params)) or 'none'}. Give "
            "MEASURE=POINTS with one of them (e.g. phq9=7)."
        )
    fit_options = FitOptions(
        fitted_at=fitted_at or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        pre=options.pre,
        post=options.post,
        ruptures=options.rupture_config,
        min_episodes=options.min_episodes,
        sudden_gain_cutoffs=dict(options.sudden_gain_cutoffs),
        sudden_gain_z=options.sudden_gain_z,
        subscale_rupture_z=options.subscale_rupture_z,
        # A reliability or an index asked for on the command line means the sample's own index.
        prefer_published=options.reliability is None and options.rci_method is Method.JT,
        alert_budget=options.alert_budget,
        budget_level=options.budget_level,
        signal_tuning=options.signal_tuning,
        max_others_flagged=options.signal_false_alarms,
        expected_course=expected_course,
        dropout=options.feedback,
        dropout_folds=options.dropout_folds,
        threads=options.threads or 1,
        course_threads=options.threads or _cores(),
    )
    return fit_practice(pulled.administrations, scored.params, fit_options, items=scored.items)


def _cores() -> int:
    """The cores this process may run on (where the system says), else the machine's."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _load_model(options: Options, params: Mapping[str, MeasureParams]) -> PracticeModel:
    """The practice model given with --model, checked against the input's measures."""
    assert options.model is not None
    try:
        text = options.model.read_text(encoding="utf-8")
    except OSError as exc:
        raise AnalysisError(f"{options.model}: cannot be read ({exc.strerror}).") from exc
    try:
        model = PracticeModel.from_json(text, str(options.model))
    except PracticeModelError as exc:
        raise AnalysisError(str(exc)) from exc
    for name, p in sorted(params.items()):
        known = model.measures.get(name)
        if known is None:
            raise AnalysisError(
                f"{options.model}: the model has no measure {name!r}, which the input has. "
                "Fit a model on data that include it (`ally fit`), or leave out --model."
            )
        version = p.measure.version if p.measure else None
        if version is not None and known.version != version:
            raise AnalysisError(
                f"{options.model}: the model was fitted on {name} version {known.version}, but "
                f"the input's scores are version {version}; scores of different versions are "
                "not comparable. Fit a model on data of this version."
            )
    return model


def _apply(options: Options, engine: Engine, scored: Scored, summary: Summary) -> None:
    pulled = _pulled(options, engine, scored, summary, fit=options.model is None)
    # The good rows are the core's columns now; the engine's copies of them are freed.
    engine.drop("ally_checked")
    if options.model is not None:
        model = _load_model(options, scored.params)
        summary.notes.append(
            f"practice model {options.model} fitted {model.training.fitted_at} on "
            f"{model.training.episodes:,} episodes; nothing was estimated from this input"
        )
    else:
        # Without feedback no expected course is applied, so none is fitted (the course's
        # quantile regressions are most of such a run's time).
        model = _fitted(options, scored, pulled, expected_course=options.feedback)
        release_freed()  # the fit's working columns
    check_ins = frozenset(
        name
        for name, p in scored.params.items()
        if p.measure is not None and reads_levels(p.measure)
    )
    try:
        applied = engine.apply(model, pulled, options, check_ins) or _apply_here(
            engine, model, pulled, options, check_ins
        )
        # The outputs held are written once the rows the model was applied to are freed, so
        # that DuckDB's CSV writer (0.5 GB at 10 M rows) does not come on top of them
        # (docs/benchmarks.md).
        try:
            del pulled
            release_freed()
        finally:  # and a CSV `sessions`' Parquet file removed, whatever comes between
            if applied.unwritten is not None:
                applied.unwritten()
        summary.outputs.extend(applied.outputs)
        _summarise(model, applied.counts, options.feedback, summary)
        summary.outputs.append(_write_rejected(engine, scored.raw, scored.rejected, options))
    except ConnectionError:
        raise  # an engine's lost connection (Spark's JVM), which the engine explains
    except OSError as exc:
        raise _not_written(exc, options) from exc


def _not_written(exc: OSError, options: Options) -> AnalysisError:
    """What to do when an output cannot be written: a full disk, a folder that is not
    writable. The system's reason names no client data."""
    why = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC or "No space left" in why:
        advice = (
            "Free space there (for a moment, a CSV sessions.csv needs room for itself and its "
            "sessions.csv.partial.parquet), or give --out a folder on another disk."
        )
    else:
        advice = "Check that the folder can be written, or give --out another folder."
    return AnalysisError(
        f"{exc.filename or options.out}: the outputs cannot be written ({why}). {advice}"
    )


def _apply_here(
    engine: Engine,
    model: PracticeModel,
    pulled: Pulled,
    options: Options,
    check_ins: frozenset[str],
) -> Applied:
    """Apply the model in this process, a slice of episodes at a time, and write the outputs
    by the engine. An engine that `streams` takes `sessions` a slice at a time into a Parquet
    file: the output itself, or for CSV a file beside it (`STAGED`), written as CSV and removed
    with the other outputs by `Applied.unwritten`."""
    outputs = [engine.location(options, f"sessions.{options.format}")]
    parquet = outputs[0].endswith(".parquet")
    staged = f"{outputs[0]}{STAGED}" if engine.streams and not parquet else None

    def discard() -> None:
        if staged is not None:
            Path(staged).unlink(missing_ok=True)

    try:
        series, groups = apply_and_write_sessions(
            engine.write,
            model,
            pulled,
            staged or outputs[0],
            stream=engine.streams,
            feedback=options.feedback,
            check_ins=check_ins,
            # Two at most: the core's rules hold Python's lock for part of their work, and
            # each slice under way holds its results (measured with two).
            threads=min(2, options.threads or _cores()),
        )
        release_freed()  # the last slice's columns
        episodes = episodes_table(pulled, series, options.goal_threshold)
        counted = series_counts(ibis.memtable(with_earliest(episodes, pulled, series)))
        counts = engine.backend.to_pyarrow(counted)
    except BaseException:
        discard()
        raise
    held = [(episodes, engine.location(options, f"episodes.{options.format}"))]
    if groups is not None:
        held.append((groups, engine.location(options, f"groups.{options.format}")))

    def unwritten() -> None:
        try:
            if staged is not None:
                engine.write_rows(engine.backend.read_parquet(staged), outputs[0])
            for table, location in held:
                engine.write(table, location)
        finally:
            discard()

    return Applied([*outputs, *(location for _, location in held)], counts, unwritten)


def _summarise(model: PracticeModel, counts: pa.Table, feedback: bool, summary: Summary) -> None:
    """Per measure and rater: episodes, complete ones, the model's numbers and notes, and the
    counts of each category and reliable change (`ally.engine.administrations.series_counts`)."""
    rows = counts.to_pylist()
    for measure_id in sorted({r[col.MEASURE] for r in rows}):
        m = model.measure(measure_id)
        for rater in RATERS:
            chosen = [r for r in rows if r[col.MEASURE] == measure_id and r[col.RATER] == rater]
            if not chosen:
                continue
            change = m.change(rater)
            ms = MeasureSummary(
                measure=measure_id, rater=rater, episodes=sum(r["series"] for r in chosen)
            )
            ms.complete = sum(r["series"] for r in chosen if r["complete"])
            rule = change.reliable_change if change else None
            ms.stats = (
                rule.stats if rule is not None and not isinstance(rule, PublishedChange) else None
            )
            ms.cutoff = change.cutoff if change else None
            ms.notes = [n.removeprefix(f"{rater}: ") for n in m.notes if n.startswith(f"{rater}: ")]
            late = sum(r["series"] for r in chosen if r["late"])
            if late and rater == RATERS[0] and m.outcome is not None and feedback:
                ms.notes.append(
                    f"{late} episodes have no session 1: no expected course or signal for "
                    "them, since the intake score is unknown"
                )
            for r in chosen:
                if r["category"] is not None:
                    ms.categories[r["category"]] += r["series"]
                if r["reliable_change"] is not None:
                    ms.reliable[r["reliable_change"]] += r["series"]
            _sudden_gains(ms, change, chosen)
            summary.measures.append(ms)
        summary.notes.extend(
            f"{measure_id}: {n}" for n in m.notes if not n.startswith(("client: ", "clinician: "))
        )
    summary.notes.extend(n for n in model.training.notes if n not in summary.notes)


def _sudden_gains(
    ms: MeasureSummary, change: ChangeModel | None, counts: list[dict[str, Any]]
) -> None:
    """The sudden gains and losses of a measure and rater, and the cut-off they were found with,
    in the summary's numbers and in one line of its text."""
    criterion = change.sudden_gain if change else None
    if criterion is None:
        ms.notes.append(
            "sudden gains and losses: not looked for, without a reliable change value for "
            "criterion 1; give --sudden-gain-cutoff MEASURE=POINTS"
        )
        return
    ms.sudden_gain_cutoff, ms.sudden_gain_source = criterion.cutoff, criterion.source
    ms.sudden_gains = sum(int(r["gains"]) for r in counts)
    ms.sudden_losses = sum(int(r["losses"]) for r in counts)
    ms.episodes_with_gains = sum(int(r["with_gains"]) for r in counts)
    ms.episodes_with_losses = sum(int(r["with_losses"]) for r in counts)
    ms.notes.append(
        f"sudden gains: {ms.sudden_gains:,} in {ms.episodes_with_gains:,} of {ms.episodes:,} "
        f"episodes, sudden losses: {ms.sudden_losses:,} in {ms.episodes_with_losses:,} "
        f"episodes (criterion 1: a change of {criterion.cutoff:.2f} points or more between "
        f"sessions, {criterion.source})"
    )


def _write_rejected(engine: Engine, raw: Table, rejected: Table, options: Options) -> str:
    """Each rejected row as it was in the file, with its line and reason first. A line that
    could not be split into the header's fields has its reason only."""
    original = [c for c in raw.columns if c != col.LINE]
    joined = rejected.left_join(raw, rejected[col.LINE] == raw[col.LINE]).select(
        rejected[col.LINE], rejected.reason, **{c: raw[c] for c in original if c != "reason"}
    )
    path = engine.location(options, "rejected.csv")
    engine.write_rows(joined.order_by(col.LINE), path)
    return path


__all__ = ["Summary", "analyze", "fit"]
