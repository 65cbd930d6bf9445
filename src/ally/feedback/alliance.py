"""Alliance ruptures and repairs, session by session, vectorised over episodes.

A rupture is a fall in a client-rated alliance score (higher is better) that meets configurable
rules: a percentage drop (Strauss et al. 2006, JCCP 74:337), a drop of k SD of the client's own
earlier sessions (after Stiles et al. 2004, J Couns Psychol 51:81), a reliable drop (Jacobson &
Truax 1991), a drop of a number of points, or a fall to or below a cut-off (SRS 36; OpenFIT).
A repair is a return to within a tolerance of the pre-rupture level within n rated sessions.
Every flag at session t uses only sessions up to t. See docs/alliance.md and SPECS section 4.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ally.change.reliable import Z_975, reliable_change_value

_ROWS_PER_CHUNK = 65_536
"""Bounds the temporary arrays to some tens of MB whatever the number of episodes."""
_EPS = 1e-9
"""Slack in threshold comparisons, so that decimal scores (SRS: 0.1 steps) meet them exactly."""

TOTAL = "total"
"""A rule's scale: the total score."""
SUBSCALES = "subscales"
"""A rule's scale: each subscale given (a drop in any one of them)."""

Status = Literal["repaired", "unrepaired", "pending"]


class RuleKind(StrEnum):
    PERCENT = "percent"
    """(reference − score) / reference ≥ threshold (Strauss et al. 2006: 0.15)."""
    SD = "sd"
    """reference − score ≥ threshold · max(SD of earlier sessions, sd_floor) (Stiles 2004: 2)."""
    RELIABLE = "reliable"
    """reference − score > threshold, a reliable change value z·SD·√(2(1 − r))."""
    POINTS = "points"
    """reference − score ≥ threshold points (OpenFIT: 1 point on the SRS)."""
    CUTOFF = "cutoff"
    """score ≤ threshold (SRS 36), or < threshold when not inclusive."""


class Reference(StrEnum):
    PREVIOUS = "previous"
    """The last rated session before this one."""
    MEAN = "mean"
    """The mean of all rated sessions before this one: the client's running level."""


@dataclass(frozen=True)
class RuptureRule:
    """One rupture criterion; build it with the class methods, which set documented defaults.

    Every rule also needs the score to be below the previous rated score: a rupture is a fall.
    """

    kind: RuleKind
    threshold: float
    scale: str = TOTAL
    """`TOTAL`, `SUBSCALES` (any subscale) or one subscale's id, such as "bond"."""
    reference: Reference = Reference.PREVIOUS
    """What the drop is measured from; unused by CUTOFF."""
    inclusive: bool = True
    """Whether a value exactly at the threshold meets the rule."""
    min_sessions: int = 3
    """SD only: rated sessions needed before this one to estimate the client's SD."""
    sd_floor: float = 1.0
    """SD only: the smallest SD used, in score points, so a flat series is not hair-triggered."""

    def __post_init__(self) -> None:
        if not math.isfinite(self.threshold):
            raise ValueError(f"a {self.kind} rule needs a finite threshold, not {self.threshold}")
        if self.kind is not RuleKind.CUTOFF and self.threshold < 0:
            raise ValueError(
                f"a {self.kind} rule's threshold is a size of drop and must be >= 0, "
                f"not {self.threshold}"
            )
        if self.kind is RuleKind.PERCENT and self.threshold >= 1:
            raise ValueError(
                f"a percent rule's threshold is a share (0.15 for 15%), not {self.threshold}"
            )
        if self.min_sessions < 2:
            raise ValueError(
                f"min_sessions must be >= 2 to estimate an SD, not {self.min_sessions}"
            )
        if self.sd_floor < 0:
            raise ValueError(f"sd_floor must be >= 0, not {self.sd_floor}")

    @classmethod
    def percent_drop(
        cls, share: float = 0.15, *, scale: str = TOTAL, reference: Reference = Reference.PREVIOUS
    ) -> RuptureRule:
        """A drop of at least `share` of the reference (Strauss et al. 2006: 15%)."""
        return cls(RuleKind.PERCENT, share, scale=scale, reference=reference)

    @classmethod
    def sd_drop(
        cls,
        k: float = 2.0,
        *,
        sd_floor: float = 1.0,
        min_sessions: int = 3,
        scale: str = TOTAL,
        reference: Reference = Reference.MEAN,
    ) -> RuptureRule:
        """A drop of at least k SD of the client's earlier sessions (after Stiles et al. 2004)."""
        return cls(
            RuleKind.SD,
            k,
            scale=scale,
            reference=reference,
            min_sessions=min_sessions,
            sd_floor=sd_floor,
        )

    @classmethod
    def reliable_drop(
        cls,
        sd: float,
        reliability: float,
        *,
        z: float = Z_975,
        scale: str = TOTAL,
        reference: Reference = Reference.PREVIOUS,
    ) -> RuptureRule:
        """A drop larger than the reliable change value z·SD·√(2(1 − r)) (Jacobson & Truax 1991)."""
        value = reliable_change_value(sd, reliability, z)
        return cls(RuleKind.RELIABLE, value, scale=scale, reference=reference, inclusive=False)

    @classmethod
    def points_drop(
        cls, points: float, *, scale: str = TOTAL, reference: Reference = Reference.PREVIOUS
    ) -> RuptureRule:
        """A drop of at least `points` score points (OpenFIT: 1 point on the SRS)."""
        return cls(RuleKind.POINTS, points, scale=scale, reference=reference)

    @classmethod
    def at_or_below(
        cls, cutoff: float, *, inclusive: bool = True, scale: str = TOTAL
    ) -> RuptureRule:
        """A fall to or below `cutoff` (SRS: 36), or below it when not `inclusive` (OpenFIT)."""
        return cls(RuleKind.CUTOFF, cutoff, scale=scale, inclusive=inclusive)


@dataclass(frozen=True)
class RuptureConfig:
    """Rupture rules, how they combine, and what counts as a repair (defaults: Strauss 2006)."""

    rules: tuple[RuptureRule, ...] = (RuptureRule.percent_drop(),)
    combine: Literal["any", "all"] = "any"
    """A rupture needs any one of the rules, or all of them."""
    repair_tolerance: float = 0.15
    """Repaired when the score is back to at least (1 − tolerance) × the pre-rupture level."""
    repair_within: int = 3
    """Rated sessions after the onset in which a repair must come; otherwise unrepaired."""
    on_their_own: tuple[RuptureRule, ...] = ()
    """Rules that begin a rupture by themselves, whatever `combine` says: a measure's own
    subscale drops (`ally.feedback.practice.SubscaleDrop`), added where they are applied."""

    def __post_init__(self) -> None:
        if not self.rules:
            raise ValueError("a RuptureConfig needs at least one RuptureRule")
        if self.combine not in ("any", "all"):
            raise ValueError(f"combine must be 'any' or 'all', not {self.combine!r}")
        if not 0 <= self.repair_tolerance < 1:
            raise ValueError(
                f"repair_tolerance is a share of the pre-rupture level in [0, 1) (0.15 for "
                f"15%), not {self.repair_tolerance}"
            )
        if self.repair_within < 1:
            raise ValueError(f"repair_within must be >= 1 session, not {self.repair_within}")


STRAUSS_2006 = RuptureConfig()
"""A drop of 15% from the previous rated session; repaired when back within 15% of the
pre-rupture level within 3 rated sessions (Strauss et al. 2006; the 3 is Ally's [U])."""

OPENFIT_BASELINE = RuptureConfig(
    rules=(RuptureRule.at_or_below(36, inclusive=False), RuptureRule.points_drop(1.0)),
    repair_tolerance=0.0,
)
"""OpenFIT's red SRS rules as a baseline (SPECS 8): a fall below 36, or a drop of 1 point or
more from the previous session. OpenFIT defines no repair; here it is a return to the level."""


def stiles_2004(sd_floor: float, *, k: float = 2.0, min_sessions: int = 3) -> RuptureConfig:
    """A drop of k SD below the running level (after Stiles et al. 2004; the SD basis is [U])."""
    return RuptureConfig(
        rules=(RuptureRule.sd_drop(k, sd_floor=sd_floor, min_sessions=min_sessions),),
        repair_tolerance=0.0,
    )


@dataclass(frozen=True)
class RupturePeriod:
    """One rupture: its onset, subscale, depth in points, and where it was repaired."""

    start: int
    """Onset, a 0-based session position (column)."""
    subscale: str
    """The subscale attributed, "" when none (see docs/alliance.md)."""
    depth: float
    """Pre-rupture level minus the score at the onset, on the series that drove the rupture."""
    repair: int | None
    status: Status


@dataclass(frozen=True)
class Ruptures:
    """Per-session rupture results for a 2-D array of episodes × sessions."""

    rupture: NDArray[np.bool_]
    """A rupture begins at this session."""
    repair: NDArray[np.bool_]
    """The open rupture is repaired at this session."""
    unrepaired: NDArray[np.bool_]
    """The open rupture's repair window ends here without a repair."""
    rupture_subscale: NDArray[np.int8]
    """Index into `subscales` of the subscale attributed at each onset; -1 for none."""
    depth: NDArray[np.float64]
    """Depth of the rupture beginning here (points); NaN elsewhere."""
    open_at_end: NDArray[np.bool_]
    """Per episode: a rupture is open after the last session, its repair window not yet over."""
    ended: NDArray[np.bool_]
    """Per episode: the episode has ended, so an open rupture counts as unrepaired."""
    subscales: tuple[str, ...] = ()

    @property
    def rupture_counts(self) -> NDArray[np.intp]:
        counts: NDArray[np.intp] = np.count_nonzero(self.rupture, axis=1)
        return counts

    @property
    def repair_counts(self) -> NDArray[np.intp]:
        counts: NDArray[np.intp] = np.count_nonzero(self.repair, axis=1)
        return counts

    @property
    def unrepaired_counts(self) -> NDArray[np.intp]:
        """Ruptures whose window passed without a repair, plus those open when the episode ended."""
        counts: NDArray[np.intp] = np.count_nonzero(self.unrepaired, axis=1) + (
            self.open_at_end & self.ended
        )
        return counts

    @property
    def pending(self) -> NDArray[np.bool_]:
        """Per episode: an open rupture that may still be repaired (unrepaired so far)."""
        result: NDArray[np.bool_] = self.open_at_end & ~self.ended
        return result

    def rupture_subscale_names(self) -> NDArray[np.str_]:
        """`rupture_subscale` as names, "" where none."""
        names = np.asarray(("", *self.subscales), dtype=np.str_)
        result: NDArray[np.str_] = names[self.rupture_subscale.astype(np.intp) + 1]
        return result

    def periods(self, episode: int) -> tuple[RupturePeriod, ...]:
        """The rupture–repair sequence of one episode (row), in order."""
        starts = np.flatnonzero(self.rupture[episode])
        # Ruptures never overlap, so the k-th end (repair or window over) closes the k-th onset.
        ends = np.flatnonzero(self.repair[episode] | self.unrepaired[episode])
        names = ("", *self.subscales)
        found: list[RupturePeriod] = []
        for k, start in enumerate(starts):
            repair: int | None = None
            status: Status
            if k < ends.size:
                end = int(ends[k])
                status = "repaired" if self.repair[episode, end] else "unrepaired"
                repair = end if status == "repaired" else None
            else:
                status = "unrepaired" if self.ended[episode] else "pending"
            found.append(
                RupturePeriod(
                    start=int(start),
                    subscale=names[int(self.rupture_subscale[episode, start]) + 1],
                    depth=float(self.depth[episode, start]),
                    repair=repair,
                    status=status,
                )
            )
        return tuple(found)


def _as_2d(values: ArrayLike, what: str) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{what} must be 2-D (episodes × sessions), not {array.ndim}-D")
    return array


def _series_of(rule: RuptureRule, subscales: tuple[str, ...]) -> list[int]:
    """Positions in the stacked series (0 = total, 1 + j = subscale j) a rule looks at."""
    if rule.scale == TOTAL:
        return [0]
    if rule.scale == SUBSCALES:
        if not subscales:
            raise ValueError(
                f"a {rule.kind} rule is on the subscales, but no subscale scores were given; "
                "pass subscales={'bond': ..., 'goals': ..., 'tasks': ...} or use scale='total'"
            )
        return list(range(1, len(subscales) + 1))
    if rule.scale not in subscales:
        raise ValueError(
            f"a {rule.kind} rule is on subscale {rule.scale!r}, but the subscales given are "
            f"{list(subscales) or 'none'}; pass its scores or correct the rule's scale"
        )
    return [1 + subscales.index(rule.scale)]


def _meets(value: NDArray[np.float64], threshold: float, inclusive: bool) -> NDArray[np.bool_]:
    with np.errstate(invalid="ignore"):
        if inclusive:
            return value >= threshold - _EPS
        return value > threshold + _EPS


def _at_or_below(value: NDArray[np.float64], cutoff: float, inclusive: bool) -> NDArray[np.bool_]:
    with np.errstate(invalid="ignore"):
        if inclusive:
            return value <= cutoff + _EPS
        return value < cutoff - _EPS


@dataclass(frozen=True)
class _History:
    """Per series, session and episode: the previous rated score and earlier sessions' stats."""

    previous: NDArray[np.float64]
    count: NDArray[np.float64]
    mean: NDArray[np.float64]
    sd: NDArray[np.float64]


def _previous(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """The last rated score before each session; values is (series, sessions, episodes)."""
    previous = np.full_like(values, np.nan)
    for series, earlier in zip(values, previous, strict=True):
        for t in range(1, values.shape[1]):
            earlier[t] = earlier[t - 1]
            np.copyto(earlier[t], series[t - 1], where=~np.isnan(series[t - 1]))
    return previous


def _history(values: NDArray[np.float64], previous: NDArray[np.float64]) -> _History:
    """Count, mean and sample SD (n − 1) of the rated sessions before each session."""
    present = ~np.isnan(values)

    def earlier_sum(x: NDArray[np.float64]) -> NDArray[np.float64]:
        result = np.zeros_like(x)
        np.cumsum(x[:, :-1], axis=1, out=result[:, 1:])
        return result

    filled = np.where(present, values, 0.0)
    count = earlier_sum(present.astype(np.float64))
    total = earlier_sum(filled)
    squares = earlier_sum(filled * filled)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count >= 1, total / count, np.nan)
        variance = np.maximum(squares - total * mean, 0.0) / (count - 1)
    sd = np.where(count >= 2, np.sqrt(variance), np.nan)
    return _History(previous, count, mean, sd)


def _rule_holds(
    rule: RuptureRule, values: NDArray[np.float64], history: _History
) -> NDArray[np.bool_]:
    """Whether the rule holds at each session of each given series (same shape as values)."""
    with np.errstate(invalid="ignore"):
        fell = values < history.previous
    if rule.kind is RuleKind.CUTOFF:
        return fell & _at_or_below(values, rule.threshold, rule.inclusive)
    reference = history.previous if rule.reference is Reference.PREVIOUS else history.mean
    drop = reference - values
    if rule.kind is RuleKind.PERCENT:
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(reference > 0, drop / reference, np.nan)
        return fell & _meets(share, rule.threshold, rule.inclusive)
    if rule.kind is RuleKind.SD:
        # Gumz et al. 2012: keep the stricter of the client's SD and a floor (e.g. the practice's).
        size = rule.threshold * np.fmax(history.sd, rule.sd_floor)
        enough = history.count >= rule.min_sessions
        return fell & enough & _meets(drop - size, 0.0, rule.inclusive)
    return fell & _meets(drop, rule.threshold, rule.inclusive)


def _chunk(
    values: NDArray[np.float64],
    subscales: tuple[str, ...],
    config: RuptureConfig,
) -> tuple[
    NDArray[np.bool_],
    NDArray[np.bool_],
    NDArray[np.bool_],
    NDArray[np.int8],
    NDArray[np.float64],
    NDArray[np.bool_],
]:
    """Ruptures in one block; values is (1 + subscales, sessions, episodes), results too."""
    _, sessions, rows = values.shape
    previous = _previous(values)
    per_rule: list[NDArray[np.bool_]] = []
    alone = np.zeros((sessions, rows), dtype=np.bool_)
    # Where a total rule holds: [0] among the combined rules, [1] among those on their own.
    by_total = np.zeros((2, sessions, rows), dtype=np.bool_)
    n_sub = len(subscales)
    by_subscale = np.zeros((n_sub, sessions, rows), dtype=np.bool_)
    below_cutoff = np.zeros(values.shape, dtype=np.bool_)
    combined_rules = len(config.rules)
    for k, rule in enumerate((*config.rules, *config.on_their_own)):
        series = _series_of(rule, subscales)
        if rule.kind is RuleKind.SD or (
            rule.reference is Reference.MEAN and rule.kind is not RuleKind.CUTOFF
        ):
            part = _history(values[series], previous[series])
        else:
            part = _History(previous[series], *(np.empty(0),) * 3)
        holds = _rule_holds(rule, values[series], part)
        if k < combined_rules:
            per_rule.append(np.any(holds, axis=0))
        else:
            alone |= np.any(holds, axis=0)
        if series == [0]:
            by_total[int(k >= combined_rules)] |= holds[0]
        else:
            by_subscale[[s - 1 for s in series]] |= holds
        if rule.kind is RuleKind.CUTOFF:
            below_cutoff[series] |= _at_or_below(values[series], rule.threshold, rule.inclusive)
    stacked = np.stack(per_rule)
    combined: NDArray[np.bool_] = (
        np.any(stacked, axis=0) if config.combine == "any" else np.all(stacked, axis=0)
    )
    onset_rule = combined | alone
    # The total drives a rupture a total rule began; the others are driven by a subscale.
    drive_total = (combined & by_total[0]) | by_total[1]

    # Attribution: the subscale with the largest fall relative to its previous rated score,
    # among the subscales that met a subscale rule (or, when the total drove it, that fell).
    attributed = np.full((sessions, rows), -1, dtype=np.int8)
    if n_sub:
        sub_values, sub_previous = values[1:], previous[1:]
        with np.errstate(invalid="ignore", divide="ignore"):
            fell = sub_values < sub_previous
            relative = (sub_previous - sub_values) / sub_previous
        candidate = np.where(drive_total, fell, by_subscale & onset_rule)
        key = np.where(candidate, np.where(np.isfinite(relative), relative, -1e300), -np.inf)
        attributed = np.where(candidate.any(axis=0), np.argmax(key, axis=0), -1).astype(np.int8)
    drive = np.where(drive_total, 0, attributed.astype(np.intp) + 1)

    # The pre-rupture level and the depth, were a rupture to begin at each session.
    pre_level = np.take_along_axis(previous, drive[None], axis=0)[0]
    fall = pre_level - np.take_along_axis(values, drive[None], axis=0)[0]

    rupture = np.zeros((sessions, rows), dtype=np.bool_)
    repair = np.zeros_like(rupture)
    unrepaired = np.zeros_like(rupture)
    is_open = np.zeros(rows, dtype=np.bool_)
    level = np.zeros(rows)
    rated = np.zeros(rows, dtype=np.intp)
    # Flat positions in (series, sessions, episodes) of each episode's repair series at session 0.
    flat_values, flat_below = values.reshape(-1), below_cutoff.reshape(-1)
    episode = np.arange(rows)
    at_zero = episode.copy()
    keep = 1.0 - config.repair_tolerance
    for t in range(sessions):
        where = at_zero + t * rows
        score = flat_values[where]
        seen = is_open & ~np.isnan(score)
        with np.errstate(invalid="ignore"):
            back = score >= keep * level - _EPS
        repaired = seen & back & ~flat_below[where]
        rated += seen
        over = seen & ~repaired & (rated >= config.repair_within)
        is_open &= ~(repaired | over)
        new = onset_rule[t] & ~is_open
        is_open |= new
        at_zero = np.where(new, drive[t] * (sessions * rows) + episode, at_zero)
        level = np.where(new, pre_level[t], level)
        rated[new] = 0
        rupture[t], repair[t], unrepaired[t] = new, repaired, over
    depth = np.where(rupture, fall, np.nan)
    subscale_at = np.where(rupture, attributed, -1).astype(np.int8)
    return rupture, repair, unrepaired, subscale_at, depth, is_open


def ruptures(
    total: ArrayLike,
    subscales: Mapping[str, ArrayLike] | None = None,
    *,
    config: RuptureConfig = STRAUSS_2006,
    ended: ArrayLike = False,
) -> Ruptures:
    """Ruptures and repairs in 2-D alliance scores (episodes × sessions, NaN = not rated).

    `subscales` maps ids (bond, goals, tasks) to arrays of the same shape; `ended` (per episode
    or one bool) says an episode is over, so its open rupture counts as unrepaired.
    """
    values = _as_2d(total, "total")
    names = tuple(subscales or {})
    if len(names) > 127:
        raise ValueError(f"at most 127 subscales are supported, not {len(names)}")
    layers = [values]
    for name in names:
        layer = _as_2d((subscales or {})[name], f"subscale {name!r}")
        if layer.shape != values.shape:
            raise ValueError(
                f"subscale {name!r} has shape {layer.shape} but the total has {values.shape}; "
                "give every subscale one score per episode and session, NaN where missing"
            )
        layers.append(layer)
    for rule in (*config.rules, *config.on_their_own):
        _series_of(rule, names)  # fail early, with the rule named
    rows, sessions = values.shape
    done = np.broadcast_to(np.asarray(ended, dtype=np.bool_), (rows,)).copy()

    rupture = np.zeros((rows, sessions), dtype=np.bool_)
    repair = np.zeros_like(rupture)
    unrepaired = np.zeros_like(rupture)
    subscale_at = np.full((rows, sessions), -1, dtype=np.int8)
    depth = np.full((rows, sessions), np.nan)
    open_at_end = np.zeros(rows, dtype=np.bool_)
    for start in range(0, rows, _ROWS_PER_CHUNK):
        block = slice(start, min(start + _ROWS_PER_CHUNK, rows))
        # Sessions before episodes, so that each session is one contiguous slice.
        stacked = np.stack([layer[block].T for layer in layers])
        found = _chunk(stacked, names, config)
        rupture[block], repair[block], unrepaired[block] = found[0].T, found[1].T, found[2].T
        subscale_at[block], depth[block], open_at_end[block] = found[3].T, found[4].T, found[5]
    return Ruptures(rupture, repair, unrepaired, subscale_at, depth, open_at_end, done, names)


@dataclass(frozen=True)
class SeriesRuptures:
    """Ruptures in one series: 0-based session positions and the rupture–repair sequence."""

    ruptures: tuple[int, ...]
    repairs: tuple[int, ...]
    unrepaired: tuple[int, ...]
    """Where a repair window ended without a repair."""
    periods: tuple[RupturePeriod, ...]

    @property
    def pending(self) -> bool:
        """A rupture is open and may still be repaired."""
        return bool(self.periods) and self.periods[-1].status == "pending"


def _row(series: Sequence[float | None]) -> NDArray[np.float64]:
    row = [math.nan if value is None else float(value) for value in series]
    return np.asarray(row, dtype=np.float64).reshape(1, len(row))


def ruptures_in_series(
    total: Sequence[float | None],
    subscales: Mapping[str, Sequence[float | None]] | None = None,
    *,
    config: RuptureConfig = STRAUSS_2006,
    ended: bool = False,
) -> SeriesRuptures:
    """Ruptures and repairs in one episode's alliance scores (None or NaN = not rated)."""
    found = ruptures(
        _row(total),
        {name: _row(scores) for name, scores in (subscales or {}).items()},
        config=config,
        ended=ended,
    )

    def positions(flags: NDArray[np.bool_]) -> tuple[int, ...]:
        return tuple(int(j) for j in np.flatnonzero(flags[0]))

    return SeriesRuptures(
        ruptures=positions(found.rupture),
        repairs=positions(found.repair),
        unrepaired=positions(found.unrepaired),
        periods=found.periods(0),
    )


@dataclass(frozen=True)
class Discrepancy:
    """Client minus clinician rating of the same sessions; NaN where either is missing."""

    difference: NDArray[np.float64]
    subscale_differences: Mapping[str, NDArray[np.float64]]
    clinician_higher: NDArray[np.bool_]
    """The clinician's total exceeds the client's by more than the threshold."""


def discrepancy(
    client: ArrayLike,
    clinician: ArrayLike,
    *,
    threshold: float,
    client_subscales: Mapping[str, ArrayLike] | None = None,
    clinician_subscales: Mapping[str, ArrayLike] | None = None,
) -> Discrepancy:
    """Client − clinician totals and subscales (2-D), flagging clinician − client > threshold.

    Both must be on the same scale (e.g. the client and therapist forms of the WAI-SR).
    """
    if threshold < 0:
        raise ValueError(f"threshold is a number of points and must be >= 0, not {threshold}")
    mine, theirs = _as_2d(client, "client"), _as_2d(clinician, "clinician")
    if mine.shape != theirs.shape:
        raise ValueError(
            f"client scores have shape {mine.shape} and clinician scores {theirs.shape}; "
            "align them by episode and session first, NaN where a rating is missing"
        )
    client_subscales = client_subscales or {}
    clinician_subscales = clinician_subscales or {}
    if set(client_subscales) != set(clinician_subscales):
        raise ValueError(
            f"client subscales {sorted(client_subscales)} differ from clinician subscales "
            f"{sorted(clinician_subscales)}; give the same subscales for both"
        )
    difference = mine - theirs
    by_subscale: dict[str, NDArray[np.float64]] = {}
    for name in client_subscales:
        a = _as_2d(client_subscales[name], f"client subscale {name!r}")
        b = _as_2d(clinician_subscales[name], f"clinician subscale {name!r}")
        if a.shape != mine.shape or b.shape != mine.shape:
            raise ValueError(f"subscale {name!r} must have the totals' shape {mine.shape}")
        by_subscale[name] = a - b
    # Clinicians tend to miss ruptures and rate the alliance higher than clients do [U].
    higher = _meets(-difference, threshold, inclusive=False)
    return Discrepancy(difference, by_subscale, higher)


@dataclass(frozen=True)
class SeriesDiscrepancy:
    """Client − clinician for one episode (None where either is missing)."""

    difference: tuple[float | None, ...]
    subscale_differences: Mapping[str, tuple[float | None, ...]]
    clinician_higher: tuple[int, ...]
    """0-based positions where the clinician rated notably higher."""


def discrepancy_in_series(
    client: Sequence[float | None],
    clinician: Sequence[float | None],
    *,
    threshold: float,
    client_subscales: Mapping[str, Sequence[float | None]] | None = None,
    clinician_subscales: Mapping[str, Sequence[float | None]] | None = None,
) -> SeriesDiscrepancy:
    """Client − clinician for one episode's sessions (None or NaN = not rated)."""
    found = discrepancy(
        _row(client),
        _row(clinician),
        threshold=threshold,
        client_subscales={k: _row(v) for k, v in (client_subscales or {}).items()},
        clinician_subscales={k: _row(v) for k, v in (clinician_subscales or {}).items()},
    )

    def values(row: NDArray[np.float64]) -> tuple[float | None, ...]:
        return tuple(None if math.isnan(v) else float(v) for v in row[0])

    return SeriesDiscrepancy(
        difference=values(found.difference),
        subscale_differences={k: values(v) for k, v in found.subscale_differences.items()},
        clinician_higher=tuple(int(j) for j in np.flatnonzero(found.clinician_higher[0])),
    )


@dataclass(frozen=True)
class RuptureAccuracy:
    """Detected rupture onsets against true onsets; precision or recall NaN when undefined."""

    precision: float
    recall: float
    matched: int
    detected: int
    true: int

    @property
    def false_positives(self) -> int:
        return self.detected - self.matched

    @property
    def false_negatives(self) -> int:
        return self.true - self.matched


def rupture_accuracy(detected: ArrayLike, true: ArrayLike, tolerance: int = 1) -> RuptureAccuracy:
    """Precision and recall of onsets (bool, episodes × sessions) within ±tolerance sessions.

    Each true and each detected onset is matched at most once (a maximum matching).
    """
    if tolerance < 0:
        raise ValueError(f"tolerance is a number of sessions and must be >= 0, not {tolerance}")
    found = np.atleast_2d(np.asarray(detected, dtype=np.bool_))
    truth = np.atleast_2d(np.asarray(true, dtype=np.bool_))
    if found.shape != truth.shape or found.ndim != 2:
        raise ValueError(
            f"detected has shape {found.shape} and true {truth.shape}; give both as "
            "episodes × sessions (or one episode's sessions)"
        )
    sessions = found.shape[1]
    taken = np.zeros_like(truth)
    matched = 0
    # Greedy in time order, each detected onset to the earliest free true onset in its window:
    # the windows move forward together, so this maximises the matches.
    for t in range(sessions):
        waiting = found[:, t].copy()
        for j in range(max(0, t - tolerance), min(sessions, t + tolerance + 1)):
            hit = waiting & truth[:, j] & ~taken[:, j]
            taken[:, j] |= hit
            waiting &= ~hit
            matched += int(np.count_nonzero(hit))
    n_detected, n_true = int(np.count_nonzero(found)), int(np.count_nonzero(truth))
    return RuptureAccuracy(
        precision=matched / n_detected if n_detected else math.nan,
        recall=matched / n_true if n_true else math.nan,
        matched=matched,
        detected=n_detected,
        true=n_true,
    )


RUPTURE_RULES: dict[str, RuptureConfig] = {"strauss": STRAUSS_2006, "openfit": OPENFIT_BASELINE}
"""The named rules users choose between (`--rupture-rule`)."""
