"""What the API takes and gives: client codes and numeric keys only, never names or contacts.

Identity (ClientIdentity's name, email and phone) stays in the screens, for every role. Free
text that may identify a client (an alert's action note) is left out for de-identified roles.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from django.core.exceptions import ObjectDoesNotExist
from ninja import Field, Schema
from pydantic import AwareDatetime, BeforeValidator, WithJsonSchema, field_validator
from pydantic_core import PydanticCustomError

from ally.web.collect.models import Respondent, Timing
from ally.web.scoping import Capability, can
from ally.web.text import NOTE, NOTE_MAX_LENGTH, api_validator

# --- Errors -------------------------------------------------------------------------------


class Problem(Schema):
    """One thing wrong with a request: an answer's item, or a field's location, and what to do."""

    item: int | None = Field(None, description="The measure's item number, for an answer.")
    loc: list[str | int] | None = Field(
        None,
        description='Where in the request: ["body", "answers", "3"], ["header", '
        '"Idempotency-Key"], ["query", "limit"].',
    )
    message: str


class Error(Schema):
    """Every error the API gives has this shape."""

    detail: str = Field(description="What went wrong and what to do, in plain words.")
    errors: list[Problem] = Field(
        default_factory=list, description="Each problem, where the request has several."
    )


BODY_REFUSED = (413, 415)
"""What an operation with a request body may also answer: too large, or not sent as JSON."""


def errors(*codes: int) -> dict[int, type[Error]]:
    """The error responses an operation declares, for its OpenAPI entry."""
    return dict.fromkeys(sorted(codes), Error)


# --- Episodes -----------------------------------------------------------------------------


class EpisodeOut(Schema):
    id: int
    client_id: int
    client_code: str = Field(description="The practice's code for the client; never a name.")
    clinician_id: int = Field(description="The assigned clinician's membership id.")
    opened_on: dt.date
    ended_on: dt.date | None
    end_reason: str = Field(description="planned, dropout, referred, other; empty while open.")
    open_alerts: int = Field(description="Alerts not yet acted on.")

    @staticmethod
    def resolve_client_code(obj: Any) -> str:
        return str(obj.client.code)


class ScoreOut(Schema):
    """The score in force for an administration: the latest amendment's, or the response's."""

    response_id: int
    total: float
    band: str = Field(description="The measure's band for the total; empty when it has none.")
    subscales: dict[str, float | None]
    critical: bool | None = Field(
        description="True: a critical item endorsed; null: one left unanswered."
    )
    answered: int
    prorated: bool
    amended: bool


class AdministrationOut(Schema):
    id: int
    episode_id: int
    session_id: int | None
    session_number: int | None
    measure_id: str
    measure_version: str
    respondent: str
    timing: str
    status: str = Field(description="created, sent, opened, completed or expired.")
    created_at: dt.datetime
    sent_at: dt.datetime | None
    opened_at: dt.datetime | None = Field(description="When the questions were first presented.")
    completed_at: dt.datetime | None = Field(description="When they were answered.")
    expired_at: dt.datetime | None
    expires_at: dt.datetime | None
    score: ScoreOut | None

    @staticmethod
    def resolve_session_number(obj: Any) -> int | None:
        return obj.session.number if obj.session_id is not None else None

    @staticmethod
    def resolve_score(obj: Any) -> dict[str, Any] | None:
        try:
            response = obj.response
        except ObjectDoesNotExist:
            return None
        current = response.current()
        return {
            "response_id": response.pk,
            "total": current.total,
            "band": current.band,
            "subscales": current.subscales,
            "critical": current.critical,
            "answered": current.answered,
            "prorated": current.prorated,
            "amended": current is not response,
        }


class EpisodeDetailOut(EpisodeOut):
    care_team: list[int] = Field(description="Membership ids of the further professionals.")
    administrations: list[AdministrationOut]

    @staticmethod
    def resolve_care_team(obj: Any) -> list[int]:
        return sorted(member.member_id for member in obj.care_team.all())


class AdministrationIn(Schema):
    measure_id: str = Field(
        min_length=1,
        max_length=60,
        description="A measure of Ally's library, e.g. phq9.",
        examples=["phq9"],
    )
    respondent: Respondent = Field(Respondent("client"), description="Who answers.")
    timing: Timing | None = Field(None, description="before or after the session, if any.")
    session_id: int | None = Field(None, description="A session of this episode.")
    expires_at: AwareDatetime | None = Field(
        None,
        description="When it stops taking answers, with its time zone; by default "
        "ALLY_LINK_HOURS after the session, or never for an administration without a session.",
    )


# --- Responses ----------------------------------------------------------------------------

# Any value reaches the scoring, which names the item of each answer that is not a number, so
# every problem with an answer comes back the same way: by item.
Answer = Annotated[Any, WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "null"}]})]

ITEM_NUMBER = re.compile(r"[0-9]{1,9}")
"""An item's number as a key of `answers`: plain ASCII digits. Not `str.isdigit()`, which takes
"²" and "①" that `int()` then refuses, nor pydantic's integers, which take "+1", " 1" and "1_0"
for items no one wrote that way."""


def _shown(key: str) -> str:
    """A key as the caller can read it back: the first 20 characters, invisible ones escaped."""
    text = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in key[:20])
    return f'"{text}..."' if len(key) > 20 else f'"{text}"'


def _item_number(key: Any) -> int:
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    if isinstance(key, str) and ITEM_NUMBER.fullmatch(key):
        return int(key)
    raise PydanticCustomError(
        "item_number",
        "answers: the key {key} is not an item number; give each answer under its item's "
        'number in the digits 0 to 9, such as "3".',
        {"key": _shown(str(key))},
    )


ItemNumber = Annotated[
    int,
    BeforeValidator(_item_number),
    WithJsonSchema({"type": "string", "pattern": f"^{ITEM_NUMBER.pattern}$"}),
]


class ResponseIn(Schema):
    answers: dict[ItemNumber, Answer] = Field(
        description='By item number: {"1": 2, "2": 0, "9": null}; null leaves an item unanswered.',
        examples=[{str(item): 1 for item in range(1, 10)}],
    )


class AlertBrief(Schema):
    id: int
    kind: str
    item: int | None


class ResponseOut(Schema):
    """A stored response and its score, as recorded (amendments do not change it)."""

    id: int
    administration_id: int
    measure_id: str
    measure_version: str
    total: float
    band: str
    subscales: dict[str, float | None]
    critical: bool | None
    answered: int
    prorated: bool
    recorded_at: dt.datetime
    entered_by_id: int | None = Field(description="The member who entered the answers.")
    alerts: list[AlertBrief] = Field(description="Alerts this response raised.")

    @staticmethod
    def resolve_alerts(obj: Any) -> list[Any]:
        return list(obj.alerts.order_by("pk"))


# --- Feedback -----------------------------------------------------------------------------


class SessionFeedbackOut(Schema):
    """One scored administration as the engine sees it (docs/formats.md, `sessions`)."""

    measure_id: str
    rater: str
    session_number: int
    date: dt.date | None
    score: float
    subscales: dict[str, float | None]
    band: str
    baseline: float | None
    change: float | None
    rci: float | None
    reliable_change: str
    critical: bool | None
    expected: float | None
    expected_low: float | None
    expected_high: float | None
    signal: str = Field(description="'' (none), white, green, yellow or red.")
    rupture: bool
    repair: bool
    rupture_subscale: str
    discrepancy: float | None = Field(description="Client's alliance minus clinician's.")
    risk_flags: str
    dropout_risk: float | None
    computed_at: dt.datetime


class EpisodeFeedbackOut(Schema):
    """One measure over the episode (docs/formats.md, `episodes`)."""

    measure_id: str
    rater: str
    sessions: int
    first_session: int
    last_session: int
    first_score: float
    last_score: float
    change: float | None
    rci: float | None
    reliable_change: str
    category: str
    sudden_gains: int
    sudden_losses: int
    ruptures: int
    repairs: int
    unrepaired: int
    computed_at: dt.datetime


class FeedbackOut(Schema):
    episode_id: int
    sessions: list[SessionFeedbackOut]
    measures: list[EpisodeFeedbackOut]


# --- Alerts -------------------------------------------------------------------------------


class AlertOut(Schema):
    id: int
    episode_id: int
    client_code: str
    response_id: int | None
    kind: str = Field(
        description="critical_item, critical_unanswered, signal_red, rupture or dropout_risk."
    )
    item: int | None
    raises: str
    message: str
    state: Literal["raised", "seen", "acted_on"]
    raised_at: dt.datetime
    seen_at: dt.datetime | None
    seen_by_id: int | None
    acted_at: dt.datetime | None
    acted_by_id: int | None
    action_note: str | None = Field(
        description="What was done; free text, so null for roles that see no identifying data."
    )

    @staticmethod
    def resolve_client_code(obj: Any) -> str:
        return str(obj.episode.client.code)

    @staticmethod
    def resolve_action_note(obj: Any, context: Any) -> str | None:
        membership = getattr(context["request"], "membership", None)
        if membership is None or not can(membership, Capability.SEE_IDENTITY):
            return None
        return str(obj.note)


ActionNote = Annotated[
    str,
    Field(
        max_length=NOTE_MAX_LENGTH,
        description="What was done about the alert: lines of text, without control or "
        "invisible characters.",
        examples=["Called the client; we reviewed the safety plan together."],
    ),
    api_validator(NOTE),
]


class ActionIn(Schema):
    note: ActionNote

    @field_validator("note")
    @classmethod
    def _not_blank(cls, note: str) -> str:
        if not note:  # already stripped by the text rule
            raise PydanticCustomError("blank", "write what was done about this alert")
        return note
