"""The measures the web app scores with: Ally's library, loaded once per process."""

from __future__ import annotations

from functools import cache

from ally.measures import Library, Measure, load_library


@cache
def library() -> Library:
    return load_library()


def measure(measure_id: str) -> Measure:
    """The measure with this id; KeyError names the known ones."""
    return library().get(measure_id)


def has_text(measure: Measure) -> bool:
    """Whether every item has text to show a respondent; licensed measures may ship without."""
    return all(any(item.text.values()) for item in measure.items)
