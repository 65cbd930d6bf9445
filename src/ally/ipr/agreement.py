"""How far client and clinician agree on a recording's moments.

Three figures, as alliance researchers report them for IPR and significant-events studies:
- matched marks: client and clinician marks paired one to one, a pair when the two intervals
  overlap or lie within `tolerance` seconds of each other; the pairing takes as many pairs as
  possible, then the closest (an assignment problem, Kuhn's Hungarian method via SciPy);
- Cohen's kappa (Cohen 1960, Educ Psychol Meas 20:37) over fixed segments [0, s), [s, 2s), ...
  up to and including the one that holds the last mark's end: each rater marks a segment when
  one of their intervals overlaps it or one of their moments falls in it;
- the Pearson correlation of the two ratings (1-9) of the matched pairs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import pearsonr

from ally.ipr.marks import Mark, Rater

SEGMENT = 10.0
"""Seconds per segment for kappa: about one speaking turn."""
TOLERANCE = 5.0
"""Seconds between two marks that still count as the same moment."""
MIN_PAIRS_FOR_R = 3
"""Fewer matched ratings give no correlation worth reading."""


@dataclass(frozen=True)
class Agreement:
    recording: str
    client_marks: int
    clinician_marks: int
    matched: int
    kappa: float | None
    """None when it is undefined: no segments, or both raters marked all segments alike."""
    rating_r: float | None
    """None with fewer than MIN_PAIRS_FOR_R matched pairs rated by both, or no spread."""
    pairs: tuple[tuple[Mark, Mark], ...] = ()


def gap(a: Mark, b: Mark) -> float:
    """Seconds between two marks; 0 when they overlap or touch."""
    return max(0.0, max(a.start, b.start) - min(a.end, b.end))


def matched_pairs(
    client: Sequence[Mark], clinician: Sequence[Mark], tolerance: float = TOLERANCE
) -> list[tuple[Mark, Mark]]:
    """Client and clinician marks paired one to one within `tolerance`: most pairs, then the
    smallest total gap."""
    if not client or not clinician:
        return []
    gaps = np.array([[gap(a, b) for b in clinician] for a in client])
    allowed = gaps <= tolerance
    # An impossible pair costs more than every allowed pair together, so the assignment first
    # takes as many allowed pairs as there can be, then the closest of them.
    impossible = float(gaps[allowed].sum()) + 1.0 if allowed.any() else 1.0
    cost = np.where(allowed, gaps, impossible * (len(client) + len(clinician)))
    rows, columns = linear_sum_assignment(cost)
    return [
        (client[r], clinician[c])
        for r, c in sorted(zip(rows, columns, strict=True), key=lambda rc: client[rc[0]].start)
        if allowed[r, c]
    ]


def segment_count(marks: Iterable[Mark], segment: float = SEGMENT) -> int:
    """Segments up to and including the one that holds the last mark's end (0 without marks)."""
    ends = [m.end for m in marks]
    return math.floor(max(ends) / segment) + 1 if ends else 0


def marked_segments(marks: Iterable[Mark], count: int, segment: float = SEGMENT) -> list[int]:
    """1 for each segment [t, t + s) a mark overlaps (or, for a moment, falls in), else 0."""
    marked = [0] * count
    for mark in marks:
        for index in range(count):
            low, high = index * segment, (index + 1) * segment
            if mark.is_moment:
                inside = low <= mark.start < high
            else:
                inside = mark.start < high and mark.end > low
            marked[index] |= inside
    return marked


def kappa(client: Sequence[int], clinician: Sequence[int]) -> float | None:
    """Cohen's kappa of two raters' segment labels; None when chance agreement is total."""
    if not client or set(client) | set(clinician) == {client[0]}:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        # Imported here: scikit-learn loads pandas and pyarrow, which the web app's process
        # keeps out until a recording's agreement is asked for.
        from sklearn.metrics import cohen_kappa_score

        value = float(cohen_kappa_score(client, clinician))
    return None if math.isnan(value) else value


def rating_correlation(pairs: Sequence[tuple[Mark, Mark]]) -> float | None:
    """Pearson's r of the matched pairs' two ratings."""
    rated = [
        (a.rating, b.rating) for a, b in pairs if a.rating is not None and b.rating is not None
    ]
    if len(rated) < MIN_PAIRS_FOR_R:
        return None
    x, y = zip(*rated, strict=True)
    if len(set(x)) < 2 or len(set(y)) < 2:
        return None
    return float(pearsonr(x, y).statistic)


def agreement(
    recording: str,
    marks: Iterable[Mark],
    *,
    segment: float = SEGMENT,
    tolerance: float = TOLERANCE,
) -> Agreement:
    """The agreement figures of one recording's marks (other recordings' marks are ignored)."""
    if segment <= 0 or tolerance < 0:
        raise ValueError("The segment is a positive number of seconds; the tolerance at least 0.")
    own = [m for m in marks if m.recording == recording]
    client = sorted((m for m in own if m.rater == Rater.CLIENT), key=lambda m: m.start)
    clinician = sorted((m for m in own if m.rater == Rater.CLINICIAN), key=lambda m: m.start)
    pairs = matched_pairs(client, clinician, tolerance)
    count = segment_count(own, segment)
    return Agreement(
        recording=recording,
        client_marks=len(client),
        clinician_marks=len(clinician),
        matched=len(pairs),
        kappa=kappa(
            marked_segments(client, count, segment), marked_segments(clinician, count, segment)
        ),
        rating_r=rating_correlation(pairs),
        pairs=tuple(pairs),
    )


def agreements(
    marks: Iterable[Mark], *, segment: float = SEGMENT, tolerance: float = TOLERANCE
) -> list[Agreement]:
    """One Agreement per recording, in the order recordings first appear."""
    marks = list(marks)
    recordings = list(dict.fromkeys(m.recording for m in marks))
    return [agreement(r, marks, segment=segment, tolerance=tolerance) for r in recordings]


OUTPUT_COLUMNS = ("recording", "client_marks", "clinician_marks", "matched", "kappa", "rating_r")


def as_row(result: Agreement) -> dict[str, str]:
    """An Agreement as a row of `ally ipr agreement`'s output (empty where undefined)."""

    def number(value: float | None) -> str:
        return "" if value is None else f"{value:.4f}"

    return {
        "recording": result.recording,
        "client_marks": str(result.client_marks),
        "clinician_marks": str(result.clinician_marks),
        "matched": str(result.matched),
        "kappa": number(result.kappa),
        "rating_r": number(result.rating_r),
    }
