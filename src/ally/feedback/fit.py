"""Fitting a practice model from the practice's own scored administrations (`ally fit`).

Everything a practice estimates from its history is estimated here, once: the reliable-change
sample statistics and reliability (Cronbach's alpha where none is published), the Jacobson &
Truax cut-off, criterion 1 of sudden gains, the expected course of each outcome measure with its
alert budget, the rupture thresholds of alliance subscales, and the dropout model. Where the
history is too short, the measure file's published values stand in, and the model says so.
`ally.feedback.results` then applies the model and estimates nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import metadata
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

from ally.change.categories import sample_cutoff
from ally.change.cutoffs import CutoffType
from ally.change.reliable import (
    Z_975,
    ChangeRule,
    PublishedChange,
    ReliableChange,
    SampleStats,
    cronbach_alpha,
    reliable_change,
    reliable_change_value,
)
from ally.change.series import Floats, Segments, starts_of
from ally.feedback.alliance import STRAUSS_2006, RuptureConfig
from ally.feedback.etr import (
    DEFAULT_QUANTILES,
    MIN_AT_SESSION,
    MIN_SESSIONS,
    CollapsedRows,
    EtrModel,
    RationalEtr,
    TooLittleDataError,
    collapse,
    cross_validated_band,
    fit_etr,
    last_rows,
    predict_band,
    training_rows,
    with_alert_budget,
)
from ally.feedback.etr import MIN_EPISODES as ETR_MIN_EPISODES
from ally.feedback.practice import (
    ALLIANCE,
    OUTCOME,
    ChangeModel,
    MeasureBacktest,
    MeasureModel,
    MeasureParams,
    OutcomeModel,
    PracticeModel,
    SignalBacktest,
    SubscaleDrop,
    SuddenGain,
    Training,
)
from ally.feedback.results import (
    CLIENT,
    ENDED,
    ENDINGS,
    RATERS,
    Administrations,
    episode_endings,
    measure_facts_of,
    results,
    series_scores,
    session_rows,
)
from ally.feedback.signals import (
    HANNAN_SENSITIVITY,
    HANNAN_SESSION,
    MAX_OTHERS_FLAGGED,
    BudgetLevel,
    SignalThresholds,
    SignalTuning,
    best_choice,
    choose_yellow_scale,
    flag_margins,
    thresholds_of,
)

MIN_EPISODES = 30
"""Episodes with a first and a last score needed before the practice's own reliable-change
statistics replace the published values. Ally's convention, not a published rule: with fewer,
the sample SD is too unstable to rely on (the same floor as for Cronbach's alpha)."""
MIN_FOR_ALPHA = 30
"""Complete client-rated administrations needed to estimate Cronbach's alpha."""
LOW_ALLIANCE_SHARE = 0.1
"""Without a published cut-off, an alliance rating counts as low when it is among the practice's
lowest tenth of client ratings of that measure. Ally's convention (a practice's own norm), not a
validated threshold: a parameter of `FitOptions`."""
MIN_FOR_LOW_ALLIANCE = 30
"""Client ratings of an alliance measure needed before the practice's own norm is used."""
SUBSCALE_RUPTURE_Z = NormalDist().inv_cdf(0.995)
"""z of a subscale's reliable fall, 2.5758 (qnorm(.995), a two-tailed 1% level): each session
tests three subscales besides the total, so each test is held to a stricter level than the 5%
of a single reliable change (Bonferroni: .05 / 3 would give 2.39). Ally's choice [U], checked
on the training half of a simulated practice, where z of 1.96 to 2.39 flagged 15-17% of ratings
against 9% for the total alone (docs/validation.md); a parameter of `FitOptions`."""


MIN_TUNING_DETERIORATORS = 10
"""Training episodes that ended reliably worse needed before a measure's signal rule is chosen
on them. Ally's choice [U]: the threshold is set by the false-alarm bound, measured on the many
other episodes; the deteriorators only rank the candidate rules, and with fewer than ten each
one moves a sensitivity by more than .10. The default rule (fitted course, yellow at half the
band, white first) stands until then."""
TUNING_FOLDS = 5
"""Folds of the cross-validation that gives each training episode a fitted course it was not
fitted on, for choosing its threshold (Ally's choice)."""
BACKTEST_SPLIT = 0.5
"""The practice's own signal backtest trains on the earliest half of its completed episodes."""
MIN_BACKTEST_DETERIORATORS = 10
"""Deteriorators among the later completed episodes needed before the practice's own
backtest reports a sensitivity. Ally's choice [U]: with fewer, each one moves it by .10 or
more, and the dashboard says there are too few."""
MIN_BACKTEST_OTHERS = 20
"""Other later completed episodes needed before it reports a false-alarm rate (Ally's choice)."""


@dataclass(frozen=True)
class FitOptions:
    """What `fit_practice` estimates and with which settings (the defaults of `ally fit`)."""

    fitted_at: str
    """When the model is fitted (ISO 8601); passed in, so that a fit is repeatable."""
    pre: int | None = None
    post: int | None = None
    ruptures: RuptureConfig = STRAUSS_2006
    min_episodes: int = MIN_EPISODES
    prefer_published: bool = True
    """A measure's published reliable change before the sample's own (research analyses that
    set the reliability or the method turn this off)."""
    expected_course: bool = True
    """Fit an expected course per outcome measure where there is enough history."""
    quantiles: tuple[float, ...] = DEFAULT_QUANTILES
    etr_min_episodes: int = ETR_MIN_EPISODES
    etr_min_sessions: int = MIN_SESSIONS
    etr_min_at_session: int = MIN_AT_SESSION
    alert_budget: float | None = None
    """At most this share of training episodes ever flagged (None: no budget)."""
    low_alliance_share: float = LOW_ALLIANCE_SHARE
    budget_level: BudgetLevel = BudgetLevel.RED
    signal_tuning: bool = True
    """Choose each outcome measure's expected course and yellow threshold on the training
    episodes (`SignalTuning`); False keeps the fitted course with the default thresholds."""
    max_others_flagged: float = MAX_OTHERS_FLAGGED
    """The tuned rule flags at most this share of the training episodes that did not end
    reliably worse, by session 3."""
    target_sensitivity: float = HANNAN_SENSITIVITY
    """The sensitivity the tuning reports as reached or not (it does not choose by it)."""
    tuning_folds: int = TUNING_FOLDS
    min_tuning_deteriorators: int = MIN_TUNING_DETERIORATORS
    signal_backtest: bool = True
    """Backtest the signals on the practice's own history (`SignalBacktest`) while fitting."""
    sudden_gain_cutoffs: Mapping[str, float] = field(default_factory=dict)
    """Criterion 1 of sudden gains in points, by measure id, instead of the reliable change."""
    sudden_gain_z: float = Z_975
    """z of criterion 1 where it is the reliable change value z·SD·√(2(1 − r)) (suddengains'
    define_crit1_cutoff uses 1.96); a published reliable change in points is taken as it is."""
    subscale_rupture_z: float | None = SUBSCALE_RUPTURE_Z
    """z of the reliable fall z·SD·√(2(1 − α)) that begins a rupture in an alliance subscale;
    None leaves ruptures to the total."""
    dropout: bool = True
    """Fit a dropout model where there are enough completed episodes and dropouts."""
    dropout_folds: int = 5
    threads: int = 1
    """Threads for the dropout model's gradient boosting (OpenMP)."""
    course_threads: int = 1
    """Cross-validation folds of the expected course fitted at once (`cross_validated_band`)."""
    notes: list[str] = field(default_factory=list)


def _ally_version() -> str:
    try:
        return metadata.version("ally")
    except metadata.PackageNotFoundError:
        return "unknown"


def _stats(pre: Floats, post: Floats) -> SampleStats | None:
    """Complete-case statistics (SD with n - 1, Pearson r); None when the pre SD is not finite."""
    n = len(pre)
    if n < 2:
        return None
    sd_pre = float(np.std(pre, ddof=1))
    sd_post = float(np.std(post, ddof=1))
    if not math.isfinite(sd_pre):
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        r12 = float(np.corrcoef(pre, post)[0, 1]) if sd_pre > 0 and sd_post > 0 else math.nan
    return SampleStats(
        n=n,
        m_pre=float(np.mean(pre)),
        sd_pre=sd_pre,
        m_post=float(np.mean(post)),
        sd_post=sd_post,
        r12=r12 if math.isfinite(r12) else 0.0,
    )


def estimated_reliability(items: npt.NDArray[np.float64]) -> tuple[float, int] | None:
    """Cronbach's alpha of complete item answers (rows × items), with the rows it rests on;
    None with fewer than MIN_FOR_ALPHA rows or an alpha outside (0, 1)."""
    n = items.shape[0]
    if n < MIN_FOR_ALPHA or items.shape[1] < 2:
        return None
    variances = [float(v) for v in np.var(items, axis=0, ddof=1)]
    try:
        alpha = cronbach_alpha(variances, float(np.var(items.sum(axis=1), ddof=1)))
    except ValueError:
        return None
    return (alpha, n) if 0 < alpha < 1 else None


def _change_model(
    p: MeasureParams,
    rater: str,
    stats: SampleStats | None,
    reliability: float | None,
    reliability_source: str,
    options: FitOptions,
) -> tuple[ChangeModel, list[str]]:
    """A measure's published reliable change in points where it has one (the threshold its
    users know: PHQ-9 6, GAD-7 4), unless the analysis asks for the sample's own index
    (`prefer_published=False`); else the practice's sample where it is large enough; else one
    from the published norms. With it, criterion 1 of sudden gains."""
    notes: list[str] = []
    rule: ChangeRule | None = None
    source = ""
    # The SD and reliability a reliable change value comes from, and where they come from.
    spread: tuple[float, float, str] | None = None
    min_episodes = options.min_episodes
    n = stats.n if stats else 0
    if options.prefer_published and p.published_change is not None:
        pass  # below, with the other published values
    elif stats is not None and n >= min_episodes and reliability is not None:
        try:
            rule = reliable_change(p.method, stats, reliability, p.reliability_post)
            source = (
                f"{p.method.value.upper()} reliable change from {n:,} of the practice's "
                f"episodes, reliability {reliability:.3f} ({reliability_source})"
            )
            spread = (stats.sd_pre, reliability, f"SD of {n:,} of the practice's first scores")
        except ValueError as exc:
            notes.append(f"no reliable change from the practice's episodes: {exc}")
    elif n < min_episodes:
        notes.append(
            f"{n} episodes with a first and a last score (fewer than {min_episodes}): "
            "the practice's own reliable change is not estimated (--min-episodes sets the "
            "floor)"
        )
    elif reliability is None:
        notes.append("no reliability known: give --reliability for the RCI")
    clinical = p.measure.norms.clinical if p.measure else None
    published = ""
    if rule is None and p.published_change is not None:
        rule = PublishedChange(p.published_change)
        cited = p.measure.reliable_change.source if p.measure and p.measure.reliable_change else ""
        source = f"published reliable change of {p.published_change:g} points ({cited})"
        published = source
        if stats is not None and n >= min_episodes and reliability is not None:
            own = reliable_change_value(stats.sd_pre, reliability)
            source += f"; the practice's own {n:,} episodes would give {own:.2f} points"
        notes.append(f"reliable change: the published {p.published_change:g} points")
    elif rule is None and clinical is not None and reliability is not None:
        # Jacobson & Truax's reliable change value with the published clinical SD.
        points = reliable_change_value(clinical.sd, reliability)
        rule = PublishedChange(points)
        source = (
            f"reliable change of {points:.2f} points from the published clinical SD "
            f"{clinical.sd:g} and reliability {reliability:.2f}"
        )
        spread = (clinical.sd, reliability, "published clinical SD")
        notes.append(f"reliable change: {points:.2f} points from the published norms")
    if rule is None:
        notes.append("no reliable change value: no RCI")
    cutoff = p.cutoff
    if cutoff is None and isinstance(rule, ReliableChange) and p.functional is not None:
        cutoff = sample_cutoff(rule, CutoffType.C, p.functional, p.sign)
    if cutoff is None and p.kind == OUTCOME and rater == RATERS[CLIENT]:
        notes.append("no cut-off: give --functional-mean and --functional-sd, or --cutoff")
    sudden_gain = _sudden_gain(
        options.sudden_gain_cutoffs.get(p.id), published, rule, spread, options.sudden_gain_z
    )
    return (
        ChangeModel(
            reliable_change=rule,
            cutoff=cutoff,
            cutoff_is_clinical=True if p.cutoff_inclusive else None,
            source=source,
            sudden_gain=sudden_gain,
        ),
        notes,
    )


def _sudden_gain(
    given: float | None,
    published: str,
    rule: ChangeRule | None,
    spread: tuple[float, float, str] | None,
    z: float,
) -> SuddenGain | None:
    """Criterion 1 of sudden gains (Tang & DeRubeis 1999): a cut-off given for the measure;
    else its published reliable change in points (PHQ-9 6); else the reliable change value
    z·SD·√(2(1 − r)) from the SD and reliability its reliable change rests on, as suddengains'
    define_crit1_cutoff computes it (Wiedemann et al. 2020); else none."""
    if given is not None:
        return SuddenGain(given, "as given")
    if published and isinstance(rule, PublishedChange):
        return SuddenGain(rule.points, f"the {published}")
    if spread is None:
        return None
    sd, reliability, where = spread
    points = reliable_change_value(sd, reliability, z)
    return SuddenGain(
        points,
        f"the reliable change value {z:.3g} × SD {sd:.2f} × √(2 × (1 − {reliability:.3f})), "
        f"the {where}",
    )


def _reliable_change_points(change: ChangeModel | None) -> float | None:
    """The reliable change in points that the red "reliably worse" rule uses."""
    rule = change.reliable_change if change else None
    if isinstance(rule, PublishedChange):
        return rule.points
    if isinstance(rule, ReliableChange):
        return reliable_change_value(rule.stats.sd_pre, rule.reliability)
    return None


def fit_practice(
    a: Administrations,
    params: Mapping[str, MeasureParams],
    options: FitOptions,
    *,
    items: Mapping[str, npt.NDArray[np.float64]] | None = None,
) -> PracticeModel:
    """Fit the practice model of these administrations.

    `params` gives every measure the model should know, whether or not it has data; `items`
    holds, for measures without a published reliability, their complete client-rated item
    answers (rows × items) from which Cronbach's alpha is estimated.
    """
    seg = Segments(starts_of(a.episode, a.measure, a.rater))
    first_score, last_score, complete = series_scores(a, seg, options.pre, options.post)
    s_measure, s_rater = a.measure[seg.first], a.rater[seg.first]
    notes: list[str] = list(options.notes)

    measures: dict[str, MeasureModel] = {}
    for measure_id, p in sorted(params.items()):
        code = a.measure_ids.index(measure_id) if measure_id in a.measure_ids else -1
        measure_notes: list[str] = []
        published = p.measure.reliability if p.measure else None
        reliability = p.reliability
        given = published is None or reliability != published.value
        reliability_source = "given" if given else "published"
        if reliability is None and items and measure_id in items:
            found = estimated_reliability(items[measure_id])
            if found is not None:
                reliability = found[0]
                reliability_source = f"Cronbach's alpha from {found[1]:,} administrations"
                measure_notes.append(
                    f"no published reliability; Cronbach's alpha {found[0]:.3f} estimated "
                    f"from {found[1]:,} complete client-rated administrations is used"
                )
        raters: dict[str, ChangeModel] = {}
        for rater_code, rater in enumerate(RATERS):
            chosen = (s_measure == code) & (s_rater == rater_code) & complete
            stats = _stats(first_score[chosen], last_score[chosen])
            change, said = _change_model(p, rater, stats, reliability, reliability_source, options)
            raters[rater] = change
            has_data = bool(((s_measure == code) & (s_rater == rater_code)).any())
            if has_data:
                measure_notes += [f"{rater}: {n}" for n in said]
        outcome = None
        if p.kind == OUTCOME:
            outcome = _outcome_model(a, p, code, raters[RATERS[CLIENT]], options, measure_notes)
        low, low_source = None, ""
        drops: tuple[SubscaleDrop, ...] = ()
        if p.kind == ALLIANCE:
            low, low_source = _low_alliance(a, p, code, options, measure_notes)
            if options.subscale_rupture_z is not None:
                answers = items.get(measure_id) if items else None
                z = options.subscale_rupture_z
                drops = _subscale_drops(a, seg, p, code, answers, z, options, measure_notes)
        measures[measure_id] = p.measure_model(
            raters=raters,
            outcome=outcome,
            notes=tuple(measure_notes),
            low_alliance=low,
            low_alliance_source=low_source,
            subscale_drops=drops,
        )

    model = PracticeModel(
        measures=measures,
        training=_training(a, options, notes),
        ruptures=options.ruptures,
        pre=options.pre,
        post=options.post,
    )
    if options.dropout:
        model = _with_dropout(model, a, options, notes)
    if options.signal_backtest:
        model = replace(model, signal_backtest=signal_backtest(a, params, options, items=items))
    return model


def _subset(a: Administrations, keep: npt.NDArray[np.bool_]) -> Administrations:
    """The administrations of some episodes (rows stay in their sorted order)."""
    return Administrations(
        episode=a.episode[keep],
        measure=a.measure[keep],
        measure_ids=a.measure_ids,
        rater=a.rater[keep],
        session=a.session[keep],
        day=a.day[keep],
        score=a.score[keep],
        subscales={k: v[keep] for k, v in a.subscales.items()},
        ending=a.ending[keep],
    )


def _period(a: Administrations) -> tuple[str | None, str | None]:
    days = a.day[~np.isnan(a.day)]
    if not len(days):
        return None, None
    return str(np.datetime64(int(days.min()), "D")), str(np.datetime64(int(days.max()), "D"))


def signal_backtest(
    a: Administrations,
    params: Mapping[str, MeasureParams],
    options: FitOptions,
    *,
    items: Mapping[str, npt.NDArray[np.float64]] | None = None,
    split: float = BACKTEST_SPLIT,
) -> SignalBacktest:
    """The practice's own backtest of its signals: its completed episodes in order of their
    first session (undated ones last, then by number), the earliest `split` fit a model as
    `fit_practice` does, and each outcome measure's signals under that model are scored on the
    later ones: the share of episodes that ended reliably worse flagged yellow or red by session
    3 (sensitivity), and of the others (false alarms), as `ally backtest` scores them."""
    from ally.feedback.signals import FLAGS

    by = HANNAN_SESSION
    completed = np.isin(a.ending, ENDED)
    numbers = np.unique(a.episode[completed])
    first_day = np.full(len(numbers), np.inf)
    at = np.searchsorted(numbers, a.episode[completed])
    days = np.where(np.isnan(a.day[completed]), np.inf, a.day[completed])
    np.minimum.at(first_day, at, days)
    ordered = numbers[np.lexsort((numbers, first_day))]
    n_train = math.ceil(split * len(ordered))
    empty = SignalBacktest(
        split=split,
        by_session=by,
        train_episodes=n_train,
        test_episodes=len(ordered) - n_train,
        train_period=(None, None),
        test_period=(None, None),
        min_deteriorators=MIN_BACKTEST_DETERIORATORS,
    )
    # Each half needs enough deteriorators to say anything; at the usual 5-10% of episodes
    # ending reliably worse, that takes a few hundred completed episodes.
    if len(ordered) - n_train < MIN_BACKTEST_DETERIORATORS + MIN_BACKTEST_OTHERS:
        return replace(
            empty,
            note=f"{len(ordered):,} completed episodes: too few to backtest the signals",
        )
    train_rows = np.isin(a.episode, ordered[:n_train])
    test_rows = np.isin(a.episode, ordered[n_train:])
    train, test = _subset(a, train_rows), _subset(a, test_rows)
    inner = replace(options, dropout=False, signal_backtest=False, notes=[])
    model = fit_practice(train, params, inner, items=items)
    found = results(replace(model, dropout=None), test)
    seg = Segments(starts_of(test.episode, test.measure, test.rater))
    flagged = np.isin(found.sessions.signal, [f.value for f in FLAGS]) & (test.session <= by)
    ever = np.zeros(seg.count, dtype=np.bool_)
    np.logical_or.at(ever, seg.of, flagged)
    s_measure, s_rater = test.measure[seg.first], test.rater[seg.first]
    worse = found.series.reliable_change == "deteriorated"
    measures = []
    for code, measure_id in enumerate(test.measure_ids):
        m = model.measures.get(measure_id)
        if m is None or m.outcome is None:
            continue
        chosen = (s_measure == code) & (s_rater == CLIENT) & (seg.sizes >= 2)
        if not chosen.any():
            continue
        poor = worse[chosen].astype(np.bool_)
        hit = ever[chosen]
        n_poor, n_other = int(poor.sum()), int((~poor).sum())
        measures.append(
            MeasureBacktest(
                measure=measure_id,
                episodes=int(chosen.sum()),
                deteriorators=n_poor,
                sensitivity=float(hit[poor].mean())
                if n_poor >= MIN_BACKTEST_DETERIORATORS and n_other >= MIN_BACKTEST_OTHERS
                else None,
                others_flagged=float(hit[~poor].mean())
                if n_poor >= MIN_BACKTEST_DETERIORATORS and n_other >= MIN_BACKTEST_OTHERS
                else None,
            )
        )
    return replace(
        empty,
        train_period=_period(train),
        test_period=_period(test),
        measures=tuple(measures),
        note="" if measures else "no outcome measure rated by clients in the later episodes",
    )


def _low_alliance(
    a: Administrations, p: MeasureParams, code: int, options: FitOptions, notes: list[str]
) -> tuple[float | None, str]:
    """The client rating at or below which this alliance measure's alliance counts as low."""
    if p.cutoff is not None:
        return p.cutoff, f"published: {p.cutoff:g} or below"
    ratings = a.score[(a.measure == code) & (a.rater == CLIENT) & ~np.isnan(a.score)]
    if len(ratings) < MIN_FOR_LOW_ALLIANCE:
        notes.append(
            f"{len(ratings)} client ratings (fewer than {MIN_FOR_LOW_ALLIANCE}): no low-alliance "
            "threshold yet"
        )
        return None, ""
    share = options.low_alliance_share
    low = float(np.quantile(ratings, share, method="lower"))
    source = (
        f"the practice's lowest {share:.0%} of {len(ratings):,} client ratings: {low:g} or below"
    )
    return low, source


def _subscale_drops(
    a: Administrations,
    seg: Segments,
    p: MeasureParams,
    code: int,
    answers: npt.NDArray[np.float64] | None,
    z: float,
    options: FitOptions,
    notes: list[str],
) -> tuple[SubscaleDrop, ...]:
    """The fall in each subscale of two or more items of an alliance measure that begins a
    rupture by itself: more than its reliable change value z·SD·√(2(1 − α)) (Jacobson & Truax
    1991), with the SD of the subscale at the first rated session of the practice's episodes
    and Cronbach's alpha of its items, as the reliable change of a total rests on the SD of its
    pre scores and its reliability. A single item has no alpha, so no threshold of its own."""
    m = p.measure
    subscales = [s for s in (m.scoring.subscales if m else ()) if len(s.items) >= 2]
    if not subscales or code < 0:
        return ()
    first = seg.first[(a.measure[seg.first] == code) & (a.rater[seg.first] == CLIENT)]
    found: list[SubscaleDrop] = []
    for sub in subscales:
        column = a.subscales.get(sub.id)
        scores = column[first] if column is not None else np.zeros(0)
        scores = scores[~np.isnan(scores)]
        if len(scores) < options.min_episodes:
            notes.append(
                f"client: {sub.id}: {len(scores)} episodes with a first rating (fewer than "
                f"{options.min_episodes}): only the total can rupture so far"
            )
            continue
        alpha = None
        if answers is not None and answers.shape[1] >= max(sub.items):
            alpha = estimated_reliability(answers[:, [i - 1 for i in sub.items]])
        if alpha is None:
            notes.append(
                f"client: {sub.id}: its reliability cannot be estimated (it needs "
                f"{MIN_FOR_ALPHA} complete client answers of its items): only the total can "
                "rupture so far"
            )
            continue
        sd = float(np.std(scores, ddof=1))
        if not sd > 0:
            notes.append(f"client: {sub.id}: every first rating is the same: no threshold")
            continue
        points = reliable_change_value(sd, alpha[0], z)
        source = (
            f"a fall of more than {z:.3g} × {sd:.2f} × √(2 × (1 − {alpha[0]:.3f})) = "
            f"{points:.2f} points (SD of {len(scores):,} episodes' first ratings, Cronbach's "
            f"alpha of {alpha[1]:,} complete answers)"
        )
        found.append(SubscaleDrop(sub.id, points, sd, alpha[0], z, source))
    if found:
        listed = ", ".join(f"{d.subscale} {d.points:.2f}" for d in found)
        notes.append(
            "client: a rupture also begins where one subscale falls by more than its own "
            f"reliable change: {listed} points"
        )
    return tuple(found)


def _training(a: Administrations, options: FitOptions, notes: list[str]) -> Training:
    days = a.day[~np.isnan(a.day)]

    def date(day: float) -> str:
        return str(np.datetime64(int(day), "D"))

    return Training(
        # Episodes are numbered from 0: counted without sorting 10 M of them (0.6 s).
        episodes=int(np.count_nonzero(np.bincount(a.episode))),
        administrations=len(a),
        first_date=date(days.min()) if len(days) else None,
        last_date=date(days.max()) if len(days) else None,
        fitted_at=options.fitted_at,
        ally_version=_ally_version(),
        notes=tuple(notes),
    )


def _outcome_model(
    a: Administrations,
    p: MeasureParams,
    code: int,
    client: ChangeModel,
    options: FitOptions,
    notes: list[str],
) -> OutcomeModel | None:
    """The expected course and signal rules of an outcome measure; None without a reliable
    change value."""
    # The red "reliably worse" rule uses the threshold the reliable-change labels use: a score
    # is never "reliably worse" on one screen and not on another.
    points = _reliable_change_points(client)
    if points is None or not points > 0:
        notes.append("client: no reliable change value: no signals")
        return None
    rational = RationalEtr(reliable_change=points, sign=p.sign)
    course: EtrModel | RationalEtr = rational
    thresholds = SignalThresholds()
    fitted: EtrModel | None = None
    train: CollapsedRows | None = None
    if options.expected_course and code >= 0:
        fitted, train = _fit_course(a, p, code, options, notes)
    tuning = None
    if options.signal_tuning and train is not None:
        tuning = _tune_signals(train, fitted, rational, p, client, points, options, notes)
    if tuning is not None:
        thresholds = thresholds_of(tuning.chosen, thresholds)
        if tuning.chosen.course == "fitted" and fitted is not None:
            fitted = replace(fitted, thresholds=thresholds)
        else:
            fitted = None
    if fitted is not None and train is not None and options.alert_budget is not None:
        fitted = with_alert_budget(
            fitted,
            train.train,
            cap=options.alert_budget,
            level=options.budget_level,
            cutoff=client.cutoff,
            reliable_change=points,
            cutoff_is_clinical=p.cutoff_inclusive,
        )
    if fitted is not None:
        course, thresholds = fitted, fitted.thresholds
    plan = OutcomeModel(
        expected=course,
        thresholds=thresholds,
        reliable_change=points,
        cutoff=client.cutoff,
        cutoff_is_clinical=p.cutoff_inclusive,
        tuning=tuning,
    )
    notes.append(f"client: signals from the {plan.source}")
    return plan


def _fit_course(
    a: Administrations,
    p: MeasureParams,
    code: int,
    options: FitOptions,
    notes: list[str],
) -> tuple[EtrModel | None, CollapsedRows | None]:
    """The measure's expected course from completed episodes with a session-1 score, and those
    episodes' scores, collapsed with the folds of the signal tuning (None without any)."""
    rows = (a.measure == code) & (a.rater == CLIENT)
    # Episode numbers, not text, key the rows: grouping and matching numbers is far cheaper.
    ending = np.array([e or None for e in ENDINGS], dtype=object)[a.ending[rows]]
    # Data that never say how episodes ended: the course is fitted on every episode.
    given = ending if (a.ending[rows] != ENDINGS.index("")).any() else None
    train = training_rows(a.episode[rows], a.session[rows], a.score[rows], given)
    if train.rows.empty:
        return None, None
    # One collapse serves the course and each fold of the tuning's cross-validation.
    folds = options.tuning_folds if options.signal_tuning and options.tuning_folds >= 2 else 1
    collapsed = collapse(train, folds)
    try:
        model = fit_etr(collapsed, **_etr_arguments(p, options))
    except TooLittleDataError as exc:
        notes.append(f"client: no fitted expected course: {exc}")
        return None, collapsed
    return model, collapsed


def _etr_arguments(p: MeasureParams, options: FitOptions) -> dict[str, Any]:
    """How `fit_etr` fits this measure's course (also inside the cross-validation)."""
    from ally.measures.schema import Direction

    return {
        "measure_id": p.id,
        "measure_version": p.measure.version if p.measure else p.version,
        "direction": Direction.HIGHER_IS_BETTER if p.sign > 0 else Direction.LOWER_IS_BETTER,
        "quantiles": options.quantiles,
        "min_episodes": options.etr_min_episodes,
        "min_sessions": options.etr_min_sessions,
        "min_at_session": options.etr_min_at_session,
        "fitted": options.fitted_at[:10],
    }


def _tune_signals(
    train: CollapsedRows,
    fitted: EtrModel | None,
    rational: RationalEtr,
    p: MeasureParams,
    client: ChangeModel,
    points: float,
    options: FitOptions,
    notes: list[str],
) -> SignalTuning | None:
    """The signal rule, of the fitted or the rational expected course, white first or the band
    first, and a yellow threshold, that flags the most of the training episodes that ended
    reliably worse by session 3 while flagging at most `options.max_others_flagged` of the
    others. The fitted course is judged on episodes it was not fitted on (cross-validation), so
    that it is not favoured by having seen them."""
    import pandas as pd

    from ally.change.reliable import is_deteriorated

    rule = client.reliable_change
    if rule is None:
        return None
    rows = train.train.rows
    episode, session = rows["episode"].to_numpy(), rows["session"].to_numpy()
    intake, score = rows["intake"].to_numpy(), rows["score"].to_numpy()
    last = last_rows(episode, session)
    index = rule.index(intake[last], score[last])
    # By episode in sorted order, as `flag_margins` gives its episodes.
    worse = np.asarray(is_deteriorated(index, p.sign, rule.critical), dtype=np.bool_)
    found = int(worse.sum())
    if found < options.min_tuning_deteriorators or found == len(worse):
        notes.append(
            f"client: signals keep the default thresholds: {found} of {len(worse):,} completed "
            f"training episodes ended reliably worse (a threshold is chosen from "
            f"{options.min_tuning_deteriorators})"
        )
        return None
    # The signals by session 3 read only the sessions up to it. Each episode keeps one row
    # besides, so that one without such sessions is counted as never flagged.
    judged = np.flatnonzero(
        (session <= HANNAN_SESSION) | ~pd.Series(episode).duplicated().to_numpy()
    )
    bands: dict[str, tuple[npt.NDArray[np.float64], ...]] = {
        "rational": predict_band(rational, intake[judged], session[judged])
    }
    method = "the rational course as it is"
    if fitted is not None:
        held_out = cross_validated_band(
            train,
            options.tuning_folds,
            judged,
            threads=options.course_threads,
            **_etr_arguments(p, options),
        )
        if held_out is not None:
            bands["fitted"] = held_out
            method = (
                f"the fitted course by {options.tuning_folds}-fold cross-validation over "
                "episodes, " + method
            )
    low = p.minimum if p.minimum is not None else -np.inf
    high = p.maximum if p.maximum is not None else np.inf
    choices = []
    for course, band in bands.items():
        # As the signals see them: within the scores the measure can give (`results`).
        e, lo, hi = (np.clip(b, low, high, out=b) for b in band)
        for first in (True, False):
            margins = flag_margins(
                episode[judged],
                session[judged],
                score[judged],
                intake[judged],
                e,
                lo,
                hi,
                cutoff=client.cutoff,
                reliable_change=points,
                sign=p.sign,
                thresholds=SignalThresholds(functional_first=first),
                cutoff_is_clinical=p.cutoff_inclusive,
                by_session=HANNAN_SESSION,
            )
            choices.append(
                choose_yellow_scale(
                    margins,
                    worse,
                    course=course,
                    functional_first=first,
                    max_others_flagged=options.max_others_flagged,
                    target_sensitivity=options.target_sensitivity,
                )
            )
    chosen = best_choice(choices)
    tuning = SignalTuning(
        chosen=chosen,
        candidates=tuple(choices),
        by_session=HANNAN_SESSION,
        max_others_flagged=options.max_others_flagged,
        target_sensitivity=options.target_sensitivity,
        method=method,
    )
    return tuning


def _with_dropout(
    model: PracticeModel, a: Administrations, options: FitOptions, notes: list[str]
) -> PracticeModel:
    """The model with a dropout model fitted on the completed episodes' sessions, when there
    are enough of them (`ally.feedback.dropout`)."""
    from dataclasses import replace

    from ally.feedback.dropout import DropoutModel, TooFewEpisodesError
    from ally.feedback.dropout_features import dropout_labels, features_of, training_rows_of

    endings = episode_endings(a)
    # Only completed episodes are trained on, and an episode's results and features come from
    # its own rows alone: the others' are not computed.
    done = _subset(a, dropout_labels(endings)[a.episode] >= 0)
    found = results(model, done).sessions
    marks = session_rows(
        done, found.rci, found.reliable_change == "deteriorated", found.rupture, found.repair
    )
    features = features_of(marks, measure_facts_of(model.measures.values()))
    rows = training_rows_of(features, endings)
    try:
        dropout = DropoutModel(folds=options.dropout_folds, threads=options.threads).fit(
            rows.features.values, rows.dropout, rows.episode
        )
    except TooFewEpisodesError as exc:
        notes.append(f"dropout risk: no model ({exc})")
        return replace(model, training=replace(model.training, notes=tuple(notes)))
    notes.append(
        f"dropout risk: model fitted on {dropout.summary_.episodes:,} completed episodes"  # type: ignore[union-attr]
    )
    return replace(model, dropout=dropout, training=replace(model.training, notes=tuple(notes)))
