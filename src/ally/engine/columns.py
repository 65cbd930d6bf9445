"""The input and output column contract of `ally analyze` (documented in docs/formats.md)."""

from __future__ import annotations

import re
from collections.abc import Iterable

# Input, long format: one row per completed administration.
CLIENT = "client"
EPISODE = "episode"
CLINICIAN = "clinician"
GROUP = "group"
SESSION = "session"
DATE = "date"
MEASURE = "measure"
SCORE = "score"
RATER = "rater"
RATERS = ("client", "clinician")
ENDING = "ending"
ENDINGS = ("planned", "dropout", "ongoing")
ITEM = re.compile(r"^item([1-9][0-9]*)$")
VALUE = re.compile(r"^value([1-9][0-9]*)$")

IDENTIFIERS = (CLIENT, EPISODE, CLINICIAN, GROUP)

# Added by the reader: where the row stood in the input, for rejected.csv.
LINE = "line"

# Typed copies of the text columns, made once per run (`rows.typed`).
SESSION_NUMBER = "session_number"
DATE_VALUE = "date_value"
GIVEN_SCORE = "given_score"
SCORE_VALUE = "score_value"
ANSWERED = "answered"
ITEMS_TOTAL = "items_total"

# Output of the `sessions` table, in this order; subscale columns follow `score`.
SESSION_COLUMNS = (
    CLIENT,
    EPISODE,
    CLINICIAN,
    GROUP,
    SESSION,
    DATE,
    MEASURE,
    RATER,
    SCORE,
    # subscale_<id> ...
    "band",
    "baseline",
    "change",
    "rci",
    "reliable_change",
    "critical",
    "expected",
    "expected_low",
    "expected_high",
    "signal",
    "rupture",
    "repair",
    "rupture_subscale",
    "discrepancy",
    "risk_flags",
    "dropout_risk",
    # Group-mean centring (ally.engine.groups); empty for individual work.
    "group_session",
    "group_mean",
    "group_deviation",
)

EPISODE_COLUMNS = (
    CLIENT,
    EPISODE,
    CLINICIAN,
    GROUP,
    MEASURE,
    RATER,
    "sessions",
    "first_session",
    "last_session",
    "first_score",
    "last_score",
    "change",
    "rci",
    "reliable_change",
    "category",
    "sudden_gains",
    "sudden_losses",
    "ruptures",
    "repairs",
    "unrepaired",
    "talking_therapies",
    ENDING,
    # Each goal's course on the goal-progress rows (`ally.change.goals`), goals 1 to 5.
    *(f"goal{n}_{part}" for n in range(1, 6) for part in ("first", "last", "change", "progress")),
)


def subscale_column(subscale_id: str) -> str:
    return f"subscale_{subscale_id}"


def subscales_in(columns: Iterable[str]) -> tuple[str, ...]:
    """The subscales whose `subscale_column`s are among `columns`, in their order."""
    return tuple(c.removeprefix("subscale_") for c in columns if c.startswith("subscale_"))


def item_column(number: int) -> str:
    return f"item{number}"


def goal_rating_column(number: int) -> str:
    """The rating of goal `number` on a goal-progress row (empty on other rows)."""
    return f"goal_rating{number}"


def value_column(number: int) -> str:
    """The typed answer to item `number`."""
    return f"value{number}"
