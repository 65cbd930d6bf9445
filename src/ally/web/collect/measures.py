"""The measures the web app scores with: Ally's library, loaded once per process."""

from __future__ import annotations

import re
from functools import cache

from ally.measures import Library, Measure, load_library
from ally.web.vocabulary import in_practice_words


@cache
def library() -> Library:
    return load_library()


SUPPORT_CHECK = "ally-support"
"""The check sent to a client who goes off track (docs/feedback.md, "Decision support")."""


@cache
def outside_practice_model() -> tuple[str, ...]:
    """Ids of the library's measures the practice model does not read: support checks."""
    return tuple(sorted(m.id for m in library() if not m.kind.feeds_practice_model))


def measure(measure_id: str) -> Measure:
    """The measure with this id; KeyError names the known ones."""
    return library().get(measure_id)


_ABBREVIATION = re.compile(r"\(([^()]+)\)\s*$")


def short_name(measure_id: str) -> str:
    """The measure's usual short name, e.g. "PHQ-9" from "... (PHQ-9)"; its full name when it
    has none, and the id for a measure the library lacks."""
    try:
        name = in_practice_words(measure(measure_id).name)
    except KeyError:
        return measure_id
    found = _ABBREVIATION.search(name)
    return found.group(1) if found else name


def has_text(measure: Measure) -> bool:
    """Whether every item has text to show a respondent; licensed measures may ship without."""
    return all(any(item.text.values()) for item in measure.items)
