"""Scoring many administrations of one measure at once: the one composition of the rules.

Answers come as a matrix (administrations × the measure's items, NaN = unanswered). Keying,
sums, means and prorating, subscale sufficiency, the critical flag and the check of each answer
against what the measure allows are written here once: `ally.scoring.administration.score`
scores one set of answers as a one-row matrix, and the batch engine scores millions of rows
with the same function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ally.measures.schema import Measure
from ally.measures.schema import Options as ResponseOptions
from ally.scoring import gas, rules

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Flags = npt.NDArray[np.bool_]


def allowed_text(measure: Measure, number: int) -> str:
    """What item `number` accepts, in words: "one of 0, 1, 2, 3" or "from 0 to 10 in steps of
    0.1"."""
    response = measure.response_of(measure.item(number))
    if isinstance(response, ResponseOptions):
        return "one of " + ", ".join(f"{v:g}" for v in response.values)
    return f"from {response.min:g} to {response.max:g} in steps of {response.step:g}"


def not_allowed_message(measure: Measure, number: int, value: float) -> str:
    """The message of an answer the item does not accept (the API keeps what follows "; ")."""
    return f"answer {value:g} is not allowed; give {allowed_text(measure, number)}"


def too_few_message(measure: Measure, answered: int) -> str:
    return (
        f"{answered} of {len(measure.items)} items answered; "
        f"at least {measure.scoring.min_answered} are needed for a score"
    )


@dataclass(frozen=True)
class _Items:
    """What scoring needs of a measure's items, as arrays (one entry per item, in order)."""

    low: Floats
    high: Floats
    reverse: Flags
    groups: tuple[tuple[Ints, Floats | None, tuple[float, float, float] | None], ...]
    """Items sharing a response: their columns, and the allowed values (options) or the scale's
    (min, max, step)."""


_ITEMS: dict[tuple[str, str, int], _Items] = {}


def _items(measure: Measure) -> _Items:
    """The measure's item arrays, made once per measure (scoring runs for every answer)."""
    key = (measure.id, measure.version, id(measure))
    found = _ITEMS.get(key)
    if found is not None:
        return found
    responses = [measure.response_of(item) for item in measure.items]
    by_response: dict[int, list[int]] = {}
    for column, response in enumerate(responses):
        by_response.setdefault(id(response), []).append(column)
    groups: list[tuple[Ints, Floats | None, tuple[float, float, float] | None]] = []
    for columns in by_response.values():
        response = responses[columns[0]]
        if isinstance(response, ResponseOptions):
            allowed = np.asarray(response.values, dtype=np.float64)
            groups.append((np.asarray(columns, dtype=np.int64), allowed, None))
        else:
            scale = (response.min, response.max, response.step)
            groups.append((np.asarray(columns, dtype=np.int64), None, scale))
    found = _Items(
        low=np.asarray([r.minimum for r in responses], dtype=np.float64),
        high=np.asarray([r.maximum for r in responses], dtype=np.float64),
        reverse=np.asarray([item.reverse for item in measure.items], dtype=np.bool_),
        groups=tuple(groups),
    )
    _ITEMS[key] = found
    return found


def _not_allowed(items: _Items, matrix: Floats) -> Flags:
    """Each answer the item does not accept (a missing answer is accepted)."""
    bad = np.zeros(matrix.shape, dtype=np.bool_)
    for columns, allowed, scale in items.groups:
        values = matrix[:, columns]
        if allowed is not None:
            ok = np.isin(values, allowed)
        else:
            assert scale is not None
            low, high, step = scale
            steps = (values - low) / step
            ok = (values >= low) & (values <= high) & (np.abs(steps - np.round(steps)) < 1e-6)
        bad[:, columns] = ~ok & ~np.isnan(values)
    return bad


@dataclass(frozen=True)
class ScoredColumns:
    """The scores of many administrations of one measure, row by row."""

    total: Floats
    """NaN where the answers cannot be scored (see `not_allowed` and `too_few`)."""
    subscales: dict[str, Floats]
    """NaN where a subscale has too few answers."""
    critical: Floats
    """1: a critical item endorsed; NaN: a must-answer critical item skipped and none endorsed;
    0 otherwise (`Score.critical`)."""
    endorsed: Flags
    """Per critical item (columns in the order of `measure.critical_items`): endorsed."""
    skipped: Flags
    """Per critical item: a must-answer critical item left unanswered."""
    answered: Ints
    prorated: Flags
    not_allowed: Flags
    """Per answer (rows × items): an answer the item does not accept."""
    too_few: Flags

    @property
    def scorable(self) -> Flags:
        return np.asarray(~self.not_allowed.any(axis=1) & ~self.too_few, dtype=np.bool_)


def _combined(
    measure: Measure, keyed: Floats, present: Flags, columns: list[int]
) -> tuple[Floats, Ints]:
    """The score over `columns` (0-based), with the count of answers it rests on."""
    part = keyed[:, columns]
    answered = present[:, columns].sum(axis=1)
    total = np.where(present[:, columns], part, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if measure.scoring.method == "mean":
            return rules.mean_score(total, answered), answered
        if measure.scoring.method == "gas":
            levels = np.where(present[:, columns], part, np.nan)
            return gas.t_scores(levels), answered
        if measure.scoring.prorate:
            prorated = rules.prorated_sum(total, answered, len(columns))
            total = np.where(answered < len(columns), prorated, total)
    return total * measure.scoring.multiplier, answered


def score_columns(measure: Measure, values: npt.ArrayLike) -> ScoredColumns:
    """Score every row of answers (rows × items in item order, NaN = unanswered).

    A row with an answer its item does not accept, or with fewer answers than the measure needs,
    gets no total (NaN) and is flagged; subscales with too few answers are NaN.
    """
    matrix = np.asarray(values, dtype=np.float64)
    n_items = len(measure.items)
    if matrix.ndim != 2 or matrix.shape[1] != n_items:
        raise ValueError(
            f"{measure.id} has {n_items} items; give one column per item, not shape {matrix.shape}"
        )
    present = ~np.isnan(matrix)
    items = _items(measure)
    with np.errstate(invalid="ignore"):
        not_allowed = _not_allowed(items, matrix)
    keyed = np.asarray(rules.keyed(matrix, items.low, items.high, True), dtype=np.float64)
    keyed = np.where(items.reverse, keyed, matrix)
    answered = present.sum(axis=1).astype(np.int64)
    in_total = [item.number - 1 for item in measure.total_items]
    too_few = present[:, in_total].sum(axis=1) < measure.scoring.min_answered
    bad = not_allowed.any(axis=1) | too_few

    total, _ = _combined(measure, keyed, present, in_total)
    total = np.where(bad, np.nan, total)
    subscales = {}
    for sub in measure.scoring.subscales:
        columns = [number - 1 for number in sub.items]
        value, sub_answered = _combined(measure, keyed, present, columns)
        enough = sub_answered >= rules.required_answers(measure, sub)
        if measure.scoring.method == "sum" and not measure.scoring.prorate:
            enough &= sub_answered == len(columns)
        subscales[sub.id] = np.where(enough & ~bad, value, np.nan)

    critical_items = measure.critical_items
    endorsed = np.zeros((len(matrix), len(critical_items)), dtype=np.bool_)
    skipped = np.zeros_like(endorsed)
    for k, crit in enumerate(critical_items):
        answer = matrix[:, crit.item - 1]
        with np.errstate(invalid="ignore"):
            endorsed[:, k] = np.asarray(rules.is_critical(answer, crit.min_value)) & ~np.isnan(
                answer
            )
        skipped[:, k] = crit.must_answer & np.isnan(answer)
    critical = np.where(
        endorsed.any(axis=1), 1.0, np.where(skipped.any(axis=1), np.nan, 0.0)
    ).astype(np.float64)
    prorated = (
        (present[:, in_total].sum(axis=1) < len(in_total))
        & (measure.scoring.method == "sum")
        & measure.scoring.prorate
        & ~bad
    )
    return ScoredColumns(
        total=total,
        subscales=subscales,
        critical=critical,
        endorsed=endorsed,
        skipped=skipped,
        answered=answered,
        prorated=np.asarray(prorated, dtype=np.bool_),
        not_allowed=not_allowed,
        too_few=np.asarray(too_few, dtype=np.bool_),
    )


def band_codes(score: npt.ArrayLike, thresholds: Sequence[tuple[float, str]]) -> Ints:
    """Each score's band as its position in `thresholds` (`rules.band_thresholds`: highest
    first), the first lower bound it reaches; -1 for none (or no score)."""
    values = np.asarray(score, dtype=np.float64)
    codes = np.full(len(values), -1, dtype=np.int64)
    chosen = np.zeros(len(values), dtype=np.bool_)
    with np.errstate(invalid="ignore"):
        for k, (low, _) in enumerate(thresholds):
            hit = ~chosen & (values >= low)
            codes[hit] = k
            chosen |= hit
    return codes
