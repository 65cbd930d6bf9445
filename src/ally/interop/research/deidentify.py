"""De-identification rules of a research export.

- Pseudonyms are random and new for every export: never derived from a database key, a code or a
  name, so that two exports cannot be linked and no key can be worked back (the rule for a
  re-identification code in HIPAA, 45 CFR 164.514(c)).
- Dates are either shifted by one random offset per client, the same for all their dates, so
  intervals are kept (the usual practice under expert determination or for a limited data set),
  or cut to the year, the only date element Safe Harbor keeps (45 CFR 164.514(b)(2)(i)(C));
  both profiles also give days since the client's first contact.
- Counts in the summary below a minimum cell size are suppressed (see `suppress_counts`).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar


class DateProfile(StrEnum):
    SHIFT = "shift"
    """Full dates, each client's moved by their own random offset (intervals kept)."""
    YEAR = "year"
    """The year only, plus days since the client's first contact (Safe Harbor style)."""


SHIFT_WEEKS = 26
"""Offsets are whole weeks from −26 to +26 (never 0): ±182 days, the range suggested for
per-person shifts, and whole weeks keep each date's weekday (session rhythms stay visible)."""

MIN_CELL = 11
"""The default smallest count shown in the summary: the CMS cell size suppression policy
forbids reporting counts of 1 to 10 (ResDAC, "CMS Cell Size Suppression Policy", 2017/2024);
a practice or ethics board may ask for more with --min-cell."""


def draw_offset(rng: random.Random) -> int:
    """One client's date shift in days: a random whole number of weeks, never 0."""
    weeks = rng.choice([w for w in range(-SHIFT_WEEKS, SHIFT_WEEKS + 1) if w != 0])
    return 7 * weeks


K = TypeVar("K")


class Pseudonyms:
    """Random ids for one export (`C3F9A01B7`): the same key gets the same id within the export,
    and a new export draws new ones. The mapping lives only in this object, never in a file."""

    def __init__(self, prefix: str, rng: random.Random | None = None) -> None:
        self.prefix = prefix
        self._rng = rng or random.SystemRandom()
        self._ids: dict[object, str] = {}
        self._used: set[str] = set()

    def __call__(self, key: object) -> str:
        known = self._ids.get(key)
        if known is not None:
            return known
        while True:
            found = f"{self.prefix}{self._rng.getrandbits(32):08X}"
            if found not in self._used:
                break
        self._used.add(found)
        self._ids[key] = found
        return found

    def __len__(self) -> int:
        return len(self._ids)


def suppress_counts(counts: Mapping[K, int], min_cell: int) -> dict[K, int | None]:
    """The counts of one frequency table with every cell from 1 to `min_cell` − 1 suppressed
    (None), and, where exactly one cell was suppressed, also the next smallest, so that it
    cannot be worked out from the total (the complementary suppression the CMS policy asks
    for: no count below the threshold "derived from other reported cells"). Zero is shown."""
    shown: dict[K, int | None] = {key: None if 0 < n < min_cell else n for key, n in counts.items()}
    hidden = [key for key, n in shown.items() if n is None]
    if len(hidden) == 1:
        others = sorted(
            (n, i) for i, (key, n) in enumerate(shown.items()) if n is not None and n > 0
        )
        if others:
            keys = list(shown)
            shown[keys[others[0][1]]] = None
    return shown
