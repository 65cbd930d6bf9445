"""A mark on a recording: a moment (end = start) or an interval, to the second, by one rater.

The 1-9 rating runs from hindering (1) through neutral (5) to helpful (9): the structure of
Elliott's helpfulness scale (Brief Structured Recall manual v3.51), in Ally's own words.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

RATING_LOW = 1
RATING_NEUTRAL = 5
RATING_HIGH = 9


class Rater(StrEnum):
    CLIENT = "client"
    CLINICIAN = "clinician"


class Kind(StrEnum):
    HELPFUL = "helpful"
    HINDERING = "hindering"
    SIGNIFICANT = "significant"


class MarkError(ValueError):
    """A mark that cannot be read; the message names the line and the field."""


@dataclass(frozen=True)
class Mark:
    recording: str
    rater: Rater
    start: float
    end: float
    kind: Kind
    rating: int | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and math.isfinite(self.end)):
            raise MarkError("A mark's start and end are numbers of seconds.")
        if self.start < 0 or self.end < self.start:
            raise MarkError(
                f"A mark runs from its start ({self.start:g} s) to its end ({self.end:g} s), "
                "neither before 0; for a moment, end equals start."
            )
        if self.rating is not None and not RATING_LOW <= self.rating <= RATING_HIGH:
            raise MarkError(
                f"A rating runs from {RATING_LOW} (hindering) to {RATING_HIGH} (helpful), "
                f"{RATING_NEUTRAL} neutral; {self.rating} is outside."
            )

    @property
    def is_moment(self) -> bool:
        return self.end == self.start


COLUMNS = ("recording", "rater", "start", "end", "kind", "rating")
"""The columns of a marks file (`ally ipr agreement`), in the order of an export."""


def _number(row: Mapping[str, str], column: str, where: str) -> float:
    text = (row.get(column) or "").strip()
    try:
        return float(text)
    except ValueError:
        raise MarkError(f"{where}: {column} {text!r} is not a number of seconds.") from None


def marks_from_rows(rows: Iterable[Mapping[str, str]], source: str = "marks") -> list[Mark]:
    """Marks from rows of text by column (a CSV file's), numbered from line 2 in messages."""
    marks = []
    for line, row in enumerate(rows, start=2):
        where = f"{source}, line {line}"
        missing = [c for c in COLUMNS if c != "rating" and c not in row]
        if missing:
            raise MarkError(
                f"{where}: no column {', '.join(missing)}; the columns are {', '.join(COLUMNS)}."
            )
        rater, kind = (row["rater"] or "").strip().lower(), (row["kind"] or "").strip().lower()
        if rater not in Rater.__members__.values():
            raise MarkError(f"{where}: rater {rater!r} is neither client nor clinician.")
        if kind not in Kind.__members__.values():
            raise MarkError(
                f"{where}: kind {kind!r} is not one of {', '.join(k.value for k in Kind)}."
            )
        rating_text = (row.get("rating") or "").strip()
        if rating_text and not rating_text.lstrip("-").isdigit():
            raise MarkError(f"{where}: rating {rating_text!r} is not a whole number from 1 to 9.")
        try:
            marks.append(
                Mark(
                    recording=(row["recording"] or "").strip(),
                    rater=Rater(rater),
                    start=_number(row, "start", where),
                    end=_number(row, "end", where),
                    kind=Kind(kind),
                    rating=int(rating_text) if rating_text else None,
                )
            )
        except MarkError as exc:
            if str(exc).startswith(where):
                raise
            raise MarkError(f"{where}: {exc}") from None
    return marks
