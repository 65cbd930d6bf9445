"""Session signals (white, green, yellow, red), the alert budget and the accuracy of flags.

After Lambert's OQ system (Lambert et al. 2001, Psychother Res 11:49; SPECS 3 and 8). The rules
use only arithmetic, comparisons and `&`/`|`, so that one definition serves a single client,
numpy arrays and the batch engine's Ibis columns. Critical items are not signals: the engine
raises them whatever the signal and whatever the alert budget (docs/feedback.md).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import cast

import numpy as np
import numpy.typing as npt

from ally.change.cutoffs import is_functional
from ally.change.generic import Logical, N, Numeric


class Signal(StrEnum):
    WHITE = "white"
    """In the functional range: beyond the clinical cut-off on the healthy side."""
    GREEN = "green"
    """On track: at or ahead of the expected course, or not far enough behind it to flag."""
    YELLOW = "yellow"
    """Less progress than expected: behind the expected course, within the tolerance band."""
    RED = "red"
    """Not on track: beyond the band's bad edge, or reliably worse than at intake."""


FALLBACK = Signal.GREEN
"""The signal when no condition holds (`else` of a CASE, `default` of numpy.select)."""

FLAGS = frozenset({Signal.YELLOW, Signal.RED})
"""The signals that flag a client as off track."""


@dataclass(frozen=True)
class SignalThresholds:
    """Where yellow and red begin, in units of the distance from the expected score to the band's
    bad edge (1 = the edge itself), and the first session the band is used."""

    red_scale: float = 1.0
    yellow_scale: float = 0.5
    from_session: int = 2
    """Session 1 is the intake, so no band flags before session 2."""
    functional_first: bool = True
    """True: a score in the functional range is white even when it is far behind the expected
    course (the rule until issue 12, and Lambert's). False: the band is read first, so a client
    who began near or below the cut-off and is getting worse is flagged yellow or red before
    the score leaves the functional range; white then means in that range and on track."""

    def __post_init__(self) -> None:
        if not 0 <= self.yellow_scale <= self.red_scale:
            raise ValueError(
                f"need 0 <= yellow_scale <= red_scale; got yellow_scale {self.yellow_scale} and "
                f"red_scale {self.red_scale}"
            )
        if self.from_session < 1:
            raise ValueError(f"from_session must be 1 or more, not {self.from_session}")


def bad_edge(low: N, high: N, sign: int) -> N:
    """The band's edge on the side of worse scores: `low` when higher is better, else `high`."""
    return low if sign > 0 else high


def shortfall(score: N, expected: N, sign: int) -> N:
    """Points behind the expected course: positive when the score is worse than expected."""
    return cast(N, sign * (expected - score))


def band_depth(expected: N, low: N, high: N, sign: int) -> N:
    """Points from the expected score to the band's bad edge (never negative in a valid band)."""
    return cast(N, sign * (expected - bad_edge(low, high, sign)))


def is_reliably_worse(
    score: Numeric, intake: Numeric, reliable_change: float, sign: int
) -> Logical:
    """Worse than at intake by the reliable change value or more (published values are "R or more
    points", e.g. PHQ-9 6 in the NHS Talking Therapies manual)."""
    return cast(Logical, sign * (score - intake) <= -reliable_change)


def signal_conditions(
    score: Numeric,
    intake: Numeric,
    expected: Numeric,
    low: Numeric,
    high: Numeric,
    session: Numeric,
    *,
    cutoff: float | None,
    reliable_change: float,
    sign: int,
    thresholds: SignalThresholds = SignalThresholds(),
    cutoff_is_clinical: bool = True,
) -> list[tuple[Signal, Logical]]:
    """Conditions in precedence order; the first that holds wins, else `FALLBACK` (green).

    `expected`, `low` and `high` come from an ETR model or the rational method for this client's
    intake and session. Without a cut-off no session is white. `cutoff_is_clinical` places a
    score equal to the cut-off on the clinical side, as measure files define caseness.
    """
    if sign not in (1, -1):
        raise ValueError(f"sign must be +1 (higher is better) or -1 (lower is better), not {sign}")
    behind = shortfall(score, expected, sign)
    depth = band_depth(expected, low, high, sign)
    started = session >= thresholds.from_session
    # Reliable deterioration is red even in the functional range: it is a fact, not a forecast.
    conditions: list[tuple[Signal, Logical]] = [
        (Signal.RED, is_reliably_worse(score, intake, reliable_change, sign))
    ]
    band: list[tuple[Signal, Logical]] = [
        (Signal.RED, started & (behind > thresholds.red_scale * depth)),
        (Signal.YELLOW, started & (behind > thresholds.yellow_scale * depth)),
    ]
    white: list[tuple[Signal, Logical]] = []
    if cutoff is not None:
        functional = is_functional(score, cutoff, sign, inclusive=cutoff_is_clinical)
        white.append((Signal.WHITE, functional))
    if thresholds.functional_first:
        return conditions + white + band
    return conditions + band + white


def first_signal(conditions: Sequence[tuple[Signal, Logical]]) -> Signal:
    """The first signal whose (scalar) condition holds, else `FALLBACK`."""
    for signal, condition in conditions:
        if bool(condition):
            return signal
    return FALLBACK


def select_signals(conditions: Sequence[tuple[Signal, Logical]]) -> npt.NDArray[np.str_]:
    """The signal of every element of numpy conditions, as strings ("white", "green", ...)."""
    flags = np.broadcast_arrays(*[np.asarray(c, dtype=bool) for _, c in conditions])
    choices = [s.value for s, _ in conditions]
    return np.asarray(np.select(flags, choices, default=FALLBACK.value))


def signal(
    score: float,
    intake: float,
    expected: float,
    low: float,
    high: float,
    session: int,
    *,
    cutoff: float | None,
    reliable_change: float,
    sign: int,
    thresholds: SignalThresholds = SignalThresholds(),
    cutoff_is_clinical: bool = True,
) -> Signal:
    """The signal of one session."""
    return first_signal(
        signal_conditions(
            score,
            intake,
            expected,
            low,
            high,
            session,
            cutoff=cutoff,
            reliable_change=reliable_change,
            sign=sign,
            thresholds=thresholds,
            cutoff_is_clinical=cutoff_is_clinical,
        )
    )


# --- Alert budget --------------------------------------------------------------------------


class BudgetLevel(StrEnum):
    RED = "red"
    """The cap is on episodes ever flagged red."""
    ANY = "any"
    """The cap is on episodes ever flagged yellow or red."""


@dataclass(frozen=True)
class AlertBudget:
    """Thresholds chosen so that at most `cap` of the training episodes are ever flagged."""

    cap: float
    level: BudgetLevel
    thresholds: SignalThresholds
    episodes: int
    share_flagged: float
    """Share of training episodes ever flagged at `level` with `thresholds`."""
    share_deteriorated: float
    """Share flagged by reliable deterioration alone, which no budget suppresses."""
    attainable: bool
    """False when reliable deterioration alone exceeds the cap."""


Array = npt.NDArray[np.float64]


def calibrate_budget(
    episode: Sequence[Hashable] | npt.ArrayLike,
    session: npt.ArrayLike,
    score: npt.ArrayLike,
    intake: npt.ArrayLike,
    expected: npt.ArrayLike,
    low: npt.ArrayLike,
    high: npt.ArrayLike,
    *,
    cutoff: float | None,
    reliable_change: float,
    sign: int,
    cap: float,
    level: BudgetLevel = BudgetLevel.RED,
    thresholds: SignalThresholds = SignalThresholds(),
    cutoff_is_clinical: bool = True,
) -> AlertBudget:
    """Raise the red (or yellow) scale just enough that at most `cap` of episodes are ever flagged.

    The scale is never lowered below `thresholds`: the budget is a cap, not a target.
    """
    if not 0 <= cap <= 1:
        raise ValueError(f"the alert budget is a share of episodes in [0, 1], not {cap}")
    level = BudgetLevel(level)
    margins = flag_margins(
        episode,
        session,
        score,
        intake,
        expected,
        low,
        high,
        cutoff=cutoff,
        reliable_change=reliable_change,
        sign=sign,
        thresholds=thresholds,
        cutoff_is_clinical=cutoff_is_clinical,
    )
    n = len(margins.episodes)
    if n == 0:
        raise ValueError("calibrating an alert budget needs at least one episode")
    worst, deteriorated = margins.worst, margins.worse

    current = thresholds.red_scale if level is BudgetLevel.RED else thresholds.yellow_scale
    others = np.sort(worst[~deteriorated])[::-1]
    allowed = math.floor(cap * n + 1e-9) - int(deteriorated.sum())
    attainable = allowed >= 0
    scale = current
    if int((others > current).sum()) > max(allowed, 0):
        # Exactly max(allowed, 0) episodes lie strictly above the next one's worst ratio.
        candidate = float(others[max(allowed, 0)])
        finite = others[np.isfinite(others)]
        if not math.isfinite(candidate):
            attainable = False
            candidate = float(finite.max()) if finite.size else current
        scale = max(current, candidate)
    if level is BudgetLevel.RED:
        chosen = replace(thresholds, red_scale=scale)
    else:
        chosen = replace(thresholds, yellow_scale=scale, red_scale=max(thresholds.red_scale, scale))
    flagged = int(deteriorated.sum()) + int((others > scale).sum())
    return AlertBudget(
        cap=cap,
        level=level,
        thresholds=chosen,
        episodes=n,
        share_flagged=flagged / n,
        share_deteriorated=float(deteriorated.mean()),
        attainable=attainable and flagged <= math.floor(cap * n + 1e-9),
    )


def _floats(values: npt.ArrayLike) -> Array:
    return np.asarray(values, dtype=np.float64)


@dataclass(frozen=True)
class FlagMargins:
    """Per episode, what decides whether it is ever flagged (by `by_session`): its largest
    shortfall in units of the band depth (flagged yellow when it exceeds `yellow_scale`) and
    whether it was reliably worse than at intake (always red)."""

    episodes: npt.NDArray[np.object_]
    worst: Array
    """The smallest scale at which the episode is not flagged; -inf: never behind."""
    worse: npt.NDArray[np.bool_]

    def flagged(self, scale: float) -> npt.NDArray[np.bool_]:
        """Episodes flagged yellow or red with `yellow_scale` = scale."""
        return np.asarray(self.worse | (self.worst > scale), dtype=np.bool_)


def flag_margins(
    episode: Sequence[Hashable] | npt.ArrayLike,
    session: npt.ArrayLike,
    score: npt.ArrayLike,
    intake: npt.ArrayLike,
    expected: npt.ArrayLike,
    low: npt.ArrayLike,
    high: npt.ArrayLike,
    *,
    cutoff: float | None,
    reliable_change: float,
    sign: int,
    thresholds: SignalThresholds = SignalThresholds(),
    cutoff_is_clinical: bool = True,
    by_session: int | None = None,
) -> FlagMargins:
    """The margins of `signal_conditions` per episode, over its sessions up to `by_session`
    (all without one): a session is yellow or red exactly when it is reliably worse, or from
    `thresholds.from_session` on with shortfall > scale · depth, outside the functional range
    when `thresholds.functional_first`."""
    import pandas as pd

    # Each episode once, sorted as np.unique would give them: hashing, where np.unique sorts.
    codes, uniques = pd.factorize(np.asarray(episode), sort=True, use_na_sentinel=False)
    session_ = _floats(session)
    # Only the sessions up to `by_session` count: the others are left out before any work.
    rows = slice(None) if by_session is None else np.flatnonzero(session_ <= by_session)
    session_, codes = session_[rows], codes[rows]
    score_, intake_ = _floats(score)[rows], _floats(intake)[rows]
    expected_, low_, high_ = _floats(expected)[rows], _floats(low)[rows], _floats(high)[rows]
    behind = shortfall(score_, expected_, sign)
    depth = band_depth(expected_, low_, high_, sign)
    eligible = session_ >= thresholds.from_session
    if cutoff is not None and thresholds.functional_first:
        eligible &= ~np.asarray(is_functional(score_, cutoff, sign, inclusive=cutoff_is_clinical))
    # The smallest scale at which each session is flagged: behind > scale·depth ⇔ ratio > scale.
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(depth > 0, behind / depth, np.where(behind > 0, np.inf, -np.inf))
    ratio = np.where(eligible, ratio, -np.inf)
    worse = np.asarray(is_reliably_worse(score_, intake_, reliable_change, sign), dtype=bool)
    worst = np.full(len(uniques), -np.inf)
    np.maximum.at(worst, codes, ratio)
    deteriorated = np.zeros(len(uniques), dtype=bool)
    np.logical_or.at(deteriorated, codes, worse)
    return FlagMargins(np.asarray(uniques, dtype=object), worst, deteriorated)


# --- Accuracy of flags, for the backtest ---------------------------------------------------

HANNAN_SESSION = 3
HANNAN_SENSITIVITY = 0.85
HANNAN_OTHERS_FLAGGED = 0.20
"""Ally's target after Hannan et al. 2005 (J Clin Psychol 61:155): 85% of eventual
deteriorators flagged by session 3, with at most 20% of the others flagged (issue 12; Hannan
does not report the share of others flagged, so the 20% is Ally's own bound)."""


@dataclass(frozen=True)
class FlagAccuracy:
    """How well a first flag by `by_session` (None: by the end of the episode) foretold a poor
    outcome, counted over episodes."""

    by_session: int | None
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int

    @property
    def sensitivity(self) -> float:
        """Share of episodes with a poor outcome that were flagged."""
        return _share(self.true_positives, self.true_positives + self.false_negatives)

    @property
    def specificity(self) -> float:
        """Share of the other episodes that were not flagged."""
        return _share(self.true_negatives, self.true_negatives + self.false_positives)

    @property
    def positive_predictive_value(self) -> float:
        """Share of flagged episodes that went on to a poor outcome."""
        return _share(self.true_positives, self.true_positives + self.false_positives)

    @property
    def others_flagged(self) -> float:
        """Share of the episodes without a poor outcome that were flagged (1 − specificity)."""
        return _share(self.false_positives, self.true_negatives + self.false_positives)


def _share(part: int, whole: int) -> float:
    return part / whole if whole else math.nan


def _flag_session(value: int | float | None) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value)


def flag_accuracy(
    first_flag: Sequence[int | float | None],
    poor_outcome: Sequence[bool],
    max_session: int | None = None,
) -> tuple[FlagAccuracy, ...]:
    """Accuracy of flags raised by session 1, 2, … `max_session`, then by the end of the episode.

    `first_flag` is each episode's first flagged session (None or NaN: never flagged);
    `poor_outcome` its eventual outcome (e.g. reliable deterioration, or not recovered). An
    episode counts as flagged by session k when its first flag came at session k or earlier.
    """
    if len(first_flag) != len(poor_outcome):
        raise ValueError(
            f"{len(first_flag)} first flags but {len(poor_outcome)} outcomes; give one per episode"
        )
    flags = [_flag_session(f) for f in first_flag]
    outcomes = [bool(o) for o in poor_outcome]
    if max_session is None:
        max_session = max((f for f in flags if f is not None), default=0)
    cuts: list[int | None] = [*range(1, max_session + 1), None]
    rows = []
    for cut in cuts:
        tp = fp = fn = tn = 0
        for flag, poor in zip(flags, outcomes, strict=True):
            flagged = flag is not None and (cut is None or flag <= cut)
            if poor:
                tp, fn = (tp + 1, fn) if flagged else (tp, fn + 1)
            else:
                fp, tn = (fp + 1, tn) if flagged else (fp, tn + 1)
        rows.append(FlagAccuracy(cut, tp, fp, fn, tn))
    return tuple(rows)


def first_flags(
    episode: Sequence[Hashable],
    session: Sequence[int],
    flagged: Sequence[bool],
) -> dict[Hashable, int | None]:
    """Each episode's first flagged session (None if never), from one row per session."""
    first: dict[Hashable, int | None] = {}
    for key, s, f in zip(episode, session, flagged, strict=True):
        current = first.setdefault(key, None)
        if f and (current is None or int(s) < current):
            first[key] = int(s)
    return first


def meets_target(
    accuracy: Sequence[FlagAccuracy] | Mapping[int | None, FlagAccuracy],
    session: int = HANNAN_SESSION,
    sensitivity: float = HANNAN_SENSITIVITY,
    others_flagged: float = HANNAN_OTHERS_FLAGGED,
) -> bool:
    """Whether flags by `session` caught at least `sensitivity` of poor outcomes while flagging
    at most `others_flagged` of the other episodes."""
    rows = accuracy.values() if isinstance(accuracy, Mapping) else accuracy
    for row in rows:
        if row.by_session == session:
            return row.sensitivity >= sensitivity and row.others_flagged <= others_flagged
    raise ValueError(f"no accuracy row for session {session}; compute flag_accuracy up to it")


# --- Choosing the yellow threshold on training episodes -------------------------------------

MAX_OTHERS_FLAGGED = 0.18
"""The largest share of the training episodes that did not end reliably worse that a chosen
rule may flag by `HANNAN_SESSION`. Ally's choice [U]: the goal's 0.20 less .02, about one and a
half standard errors of a share near .18 over a thousand episodes, so that later episodes stay
within 0.20. Of the goal's two figures this one is measured on many episodes and the
sensitivity on few, so the rule is held to this bound and then made as sensitive as it allows
(docs/validation.md). A parameter of `FitOptions`."""
YELLOW_SCALES = tuple(round(0.05 * k, 2) for k in range(61))
"""The yellow thresholds tried, 0 to 3 band depths in steps of .05 (Ally's grid)."""


@dataclass(frozen=True)
class ScaleChoice:
    """A signal rule and yellow threshold and how they did on training episodes, flagged yellow
    or red by the tuning's `by_session`."""

    course: str
    """The expected course: "fitted" or "rational"."""
    functional_first: bool
    """`SignalThresholds.functional_first` of the rule."""
    yellow_scale: float
    sensitivity: float
    """Share of the eventual deteriorators flagged."""
    others_flagged: float
    """Share of the other episodes flagged (false alarms)."""
    episodes: int
    deteriorators: int
    within_bound: bool
    """Whether `others_flagged` is within the bound it was chosen under."""
    sensitive_enough: bool
    """Whether `sensitivity` reaches the target."""


def choose_yellow_scale(
    margins: FlagMargins,
    poor: npt.ArrayLike,
    *,
    course: str,
    functional_first: bool,
    max_others_flagged: float = MAX_OTHERS_FLAGGED,
    target_sensitivity: float = HANNAN_SENSITIVITY,
    scales: Sequence[float] = YELLOW_SCALES,
) -> ScaleChoice:
    """The smallest yellow threshold, and so the most sensitive, that flags at most
    `max_others_flagged` of the episodes without a poor outcome (`poor`, aligned with
    `margins.episodes`); the largest threshold tried when none stays within the bound."""
    for share in (max_others_flagged, target_sensitivity):
        if not 0 <= share <= 1:
            raise ValueError(f"shares of episodes lie in [0, 1], not {share}")
    bad = np.asarray(poor, dtype=np.bool_)
    if len(bad) != len(margins.episodes):
        raise ValueError(f"{len(bad)} outcomes for {len(margins.episodes)} episodes")
    if not bad.any() or bad.all():
        raise ValueError("choosing a threshold needs episodes with and without a poor outcome")
    ordered = sorted(float(x) for x in scales)
    # Both shares fall as the threshold rises: the first within the bound is the most
    # sensitive. Of thresholds as sensitive on the training episodes it is also the one
    # furthest from losing a deteriorator, which new episodes, few and noisy, need more than
    # the last fraction of false alarms (on two simulated practices the largest as sensitive
    # lost .02-.03 of sensitivity on the later episodes; docs/validation.md).
    chosen = next(
        (x for x in ordered if float(margins.flagged(x)[~bad].mean()) <= max_others_flagged),
        ordered[-1],
    )
    flagged = margins.flagged(chosen)
    sensitivity, others = float(flagged[bad].mean()), float(flagged[~bad].mean())
    return ScaleChoice(
        course=course,
        functional_first=functional_first,
        yellow_scale=chosen,
        sensitivity=sensitivity,
        others_flagged=others,
        episodes=len(bad),
        deteriorators=int(bad.sum()),
        within_bound=others <= max_others_flagged,
        sensitive_enough=sensitivity >= target_sensitivity,
    )


def thresholds_of(choice: ScaleChoice, thresholds: SignalThresholds) -> SignalThresholds:
    """`thresholds` with the choice's yellow threshold and precedence; red begins no earlier
    than yellow."""
    return replace(
        thresholds,
        yellow_scale=choice.yellow_scale,
        red_scale=max(thresholds.red_scale, choice.yellow_scale),
        functional_first=choice.functional_first,
    )


@dataclass(frozen=True)
class SignalTuning:
    """The signal rule of a measure (expected course, precedence and yellow threshold), chosen
    on the training episodes: of the candidates, the most sensitive by `by_session` among those
    that flag at most `max_others_flagged` of the other episodes."""

    chosen: ScaleChoice
    candidates: tuple[ScaleChoice, ...]
    by_session: int
    max_others_flagged: float
    target_sensitivity: float
    method: str
    """How the candidates' figures were obtained, in words (e.g. 5-fold cross-validation)."""


def best_choice(choices: Sequence[ScaleChoice]) -> ScaleChoice:
    """The most sensitive candidate within its false-alarm bound (fewer false alarms break a
    tie, then the practice's own fitted course); when none is within it, the one with the
    fewest false alarms."""
    if not choices:
        raise ValueError("no candidate to choose from")
    within = [c for c in choices if c.within_bound]
    if not within:
        return min(choices, key=lambda c: c.others_flagged)
    return max(within, key=lambda c: (c.sensitivity, -c.others_flagged, c.course == "fitted"))
