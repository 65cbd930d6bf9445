"""Series as segments of sorted columns: one rule serves one episode and ten million rows.

A series is one client's scores of one measure by one rater over sessions. Administrations come
as columns sorted by series and session, so each series is a run of rows (a segment); the rules
compare each row with its neighbours or with the start of its segment. The web app passes one
episode's rows, the batch engine a whole practice's, to the same functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Flags = npt.NDArray[np.bool_]

BLOCK_CELLS = 20_000_000
"""About 20 M cells a block keeps each (series × sessions) matrix within a few hundred MB."""


def starts_of(*keys: npt.NDArray[np.generic]) -> Flags:
    """True on each row whose keys differ from the row before (and on the first row)."""
    n = len(keys[0]) if keys else 0
    starts = np.zeros(n, dtype=np.bool_)
    if n:
        starts[0] = True
        for key in keys:
            starts[1:] |= key[1:] != key[:-1]
    return starts


@dataclass(frozen=True)
class Segments:
    """Where each segment of sorted rows begins; `of` gives each row's segment number.

    `first` and `of` are found once and kept (the rules ask for them again and again), so
    `starts` must not change afterwards.
    """

    starts: Flags

    @cached_property
    def first(self) -> Ints:
        """The row where each segment begins."""
        return np.flatnonzero(self.starts).astype(np.int64)

    @cached_property
    def of(self) -> Ints:
        """Each row's segment number, 0 for the first segment."""
        return np.cumsum(self.starts, dtype=np.int64) - 1

    @property
    def count(self) -> int:
        return int(self.starts.sum())

    @property
    def sizes(self) -> Ints:
        return np.diff(np.append(self.first, len(self.starts))).astype(np.int64)

    @property
    def last(self) -> Ints:
        """The row where each segment ends (none when there are no rows)."""
        if not len(self.first):
            return self.first
        return (np.append(self.first[1:], len(self.starts)) - 1).astype(np.int64)

    def position(self) -> Ints:
        """Each row's place in its segment, 0 for the first."""
        rows = np.arange(len(self.starts), dtype=np.int64)
        return rows - self.first[self.of]

    def first_value(self, values: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
        """Each row gets the value on its segment's first row."""
        return values[self.first[self.of]]

    def previous(self, values: Floats) -> Floats:
        """The value on the row before within the segment; NaN on a segment's first row."""
        out = np.empty_like(values, dtype=np.float64)
        out[1:] = values[:-1]
        if len(out):
            out[self.starts] = np.nan
        return out

    def cumulative_sum(self, values: Floats) -> Floats:
        """The running sum within each segment, this row included, added up from the segment's
        own first row: exactly `np.cumsum` of the segment alone, whatever comes before it."""
        values = np.asarray(values, dtype=np.float64)
        n = self.count
        if n <= 1:
            return np.cumsum(values)
        # One running sum over all rows, less the total before each segment, would carry the
        # rounding of earlier (perhaps huge) values into a segment's sums; each segment is a
        # row of a (segments × positions) matrix instead, summed along the row.
        out = np.empty(len(values))
        chosen = np.arange(n, dtype=np.int64)
        for block in blocks(self.of, self.position() + 1, chosen, self.sizes, n):
            out[block.rows] = np.cumsum(block.matrix(values), axis=1)[block.at]
        return out

    def latest_where(self, flags: Flags) -> Ints:
        """For each row, the latest row at or before it in its segment where `flags` holds;
        -1 where there is none."""
        rows = np.where(flags, np.arange(len(flags), dtype=np.int64), -1)
        latest = np.maximum.accumulate(rows) if len(rows) else rows
        return np.where(latest >= self.first[self.of], latest, -1)

    def any_so_far(self, flags: Flags) -> Flags:
        """Whether `flags` held on this row or an earlier one of its segment."""
        return self.latest_where(flags) >= 0


@dataclass(frozen=True)
class Block:
    """A run of series of similar length and where their rows go in a (series × sessions)
    matrix."""

    series: Ints
    rows: npt.NDArray[np.intp]
    at: tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]
    width: int

    def matrix(self, values: Floats) -> Floats:
        out = np.full((len(self.series), self.width), np.nan)
        out[self.at] = values[self.rows]
        return out


def blocks(
    series: Ints,
    session: Ints,
    chosen: Ints,
    widths: Ints,
    n_series: int,
) -> Iterator[Block]:
    """Blocks over the `chosen` series, each of series of one width (up to BLOCK_CELLS cells),
    so that no matrix is wider than its series need: a practice's many short series are not
    padded to the width of its few long ones.

    `series` is each row's series number, `session` its session number (from 1), `widths` the
    latest session of each chosen series.
    """
    order = np.argsort(widths, kind="stable")
    chosen, widths = chosen[order], widths[order]
    position = np.full(n_series, -1)
    position[chosen] = np.arange(len(chosen))
    row_position = position[series]
    # The chosen rows, sorted by their series' place, so each block's rows are one slice.
    rows_by_place = np.flatnonzero(row_position >= 0)
    rows_by_place = rows_by_place[np.argsort(row_position[rows_by_place], kind="stable")]
    places = row_position[rows_by_place]
    start = 0
    while start < len(chosen):
        width = int(widths[start])
        same_width = int(np.searchsorted(widths, width, side="right"))
        stop = min(same_width, start + max(1, BLOCK_CELLS // max(width, 1)))
        lo, hi = np.searchsorted(places, [start, stop])
        rows = rows_by_place[lo:hi]
        at = (row_position[rows] - start, session[rows] - 1)
        yield Block(chosen[start:stop], rows, at, width)
        start = stop
