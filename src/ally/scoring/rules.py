"""The scoring rules, written once for a single answer and for whole columns.

Each function uses only arithmetic and comparisons on its per-answer arguments, so the same
definition scores a float in the web app and a DuckDB column in the batch engine.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from ally.measures.schema import Band, Measure, Subscale

N = TypeVar("N", bound=Any)


def keyed(answer: N, low: float | Any, high: float | Any, reverse: bool) -> N:
    """The answer's contribution to the score: reverse-keyed items count (low + high) - answer.

    `low` and `high` are the item's, or arrays of every item's for a matrix of answers."""
    if reverse:
        return cast(N, (low + high) - answer)
    return answer


def prorated_sum(answered_sum: N, answered: N, n_items: int) -> N:
    """A sum with missing answers scaled to all items: the mean answer times the item count."""
    return cast(N, answered_sum * n_items / answered)


def mean_score(answered_sum: N, answered: N) -> N:
    return cast(N, answered_sum / answered)


def required_answers(measure: Measure, subscale: Subscale | None = None) -> int:
    """The fewest answered items for a score of the whole measure or of one subscale."""
    if subscale is None:
        return measure.scoring.min_answered
    share = measure.scoring.subscale_min_answered
    # ceil without floating error: 3 of 4 items at share .75 must need 3, not 4.
    return max(1, -int(-round(share * len(subscale.items), 9) // 1))


def band_thresholds(bands: tuple[Band, ...]) -> list[tuple[float, str]]:
    """(lower bound, label) from the highest band down: the first bound a score reaches wins.

    Bands are read as thresholds so that a prorated score between two printed ranges
    (e.g. 9.5 between 5-9 and 10-14) falls in the lower one, as it would before rounding.
    """
    return [(band.min, band.label) for band in sorted(bands, key=lambda b: -b.min)]


def band_of(score: float, bands: tuple[Band, ...]) -> str | None:
    """The band of one score (`columns.band_codes` for many)."""
    from ally.scoring.columns import band_codes

    thresholds = band_thresholds(bands)
    code = int(band_codes([score], thresholds)[0])
    return thresholds[code][1] if code >= 0 else None


def is_critical(answer: N, min_value: float) -> N:
    return cast(N, answer >= min_value)


def score_range(measure: Measure) -> tuple[float, float]:
    """The lowest and highest possible total."""
    low = [measure.response_of(item).minimum for item in measure.total_items]
    high = [measure.response_of(item).maximum for item in measure.total_items]
    if measure.scoring.method == "mean":
        return min(low), max(high)
    if measure.scoring.method == "gas":
        from ally.scoring.gas import t_score_range

        return t_score_range(len(measure.items))
    times = measure.scoring.multiplier
    return sum(low) * times, sum(high) * times


def score_tolerance(measure: Measure) -> float:
    """How far a given total may be from the items' score: half its last reported decimal."""
    decimals = measure.scoring.score_decimals
    return 1e-6 if decimals is None else 0.5 * 10.0**-decimals + 1e-9
