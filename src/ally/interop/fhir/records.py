"""What the FHIR functions are given: one scored administration, one episode. Plain data, filled
by the web app from its rows or by a test from `ally.scoring`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from ally.measures.schema import Measure


class Respondent(StrEnum):
    """Who answered; FHIR's QuestionnaireResponse.source names them by resource type."""

    CLIENT = "client"
    CLINICIAN = "clinician"
    OBSERVER = "observer"


@dataclass(frozen=True)
class Scores:
    """The score in force of one administration, as `ally.scoring.score` gave it."""

    total: float
    subscales: Mapping[str, float | None] = field(default_factory=dict)
    band: str | None = None
    prorated: bool = False
    answered: int = 0


@dataclass(frozen=True)
class AdministrationRecord:
    """One completed administration: its answers in force and their score.

    Ids are Ally's pseudonymous numeric keys as text (never names or codes): `id` is the
    response's, `patient` the client's, `episode` the episode's, `encounter` the session's.
    """

    id: str
    measure: Measure
    answers: Mapping[int, float | None]
    scores: Scores
    patient: str
    authored: datetime
    episode: str | None = None
    encounter: str | None = None
    respondent: Respondent = Respondent.CLIENT
    author: str | None = None
    """The member who typed the answers in (a Practitioner id), or None when the respondent did."""
    amended: bool = False
    language: str = "en"


@dataclass(frozen=True)
class EpisodeRecord:
    id: str
    patient: str
    start: date
    end: date | None = None
    organisation: str | None = None
