"""FHIR R4 (served as R4B-valid JSON) for Ally's measures and scores: pure functions from
measures and scored administrations to resources (dicts ready for JSON), and back."""

from ally.interop.fhir.bundle import bundle_for_episode, episode_of_care, searchset
from ally.interop.fhir.capability import capability_statement
from ally.interop.fhir.checks import binding_issues, structure_issues
from ally.interop.fhir.observation import observations
from ally.interop.fhir.problems import FhirReadError, Issue
from ally.interop.fhir.questionnaire import questionnaire
from ally.interop.fhir.records import AdministrationRecord, EpisodeRecord, Respondent, Scores
from ally.interop.fhir.response import (
    ReadResponse,
    questionnaire_response,
    read_questionnaire_response,
)

__all__ = [
    "AdministrationRecord",
    "EpisodeRecord",
    "FhirReadError",
    "Issue",
    "ReadResponse",
    "Respondent",
    "Scores",
    "binding_issues",
    "bundle_for_episode",
    "capability_statement",
    "episode_of_care",
    "observations",
    "questionnaire",
    "questionnaire_response",
    "read_questionnaire_response",
    "searchset",
    "structure_issues",
]
