"""The code systems, extensions and profiles Ally's FHIR resources use, and how Ally's ids
become FHIR ids.

Sources: LOINC codes and the answer list LL358-3 from the HL7 Personal Health Record IG
(HL7/personal-health-record-format-ig, Questionnaire-ScoredAssessment-PHQ9.fsh and -GAD7.fsh);
the SDC profiles and the ordinalValue and calculatedExpression extensions from HL7/sdc
(input/examples/questionnaire-sdc-profile-example-PHQ9.json); the observation category from the
FHIR R4 ValueSet observation-category. The codes themselves sit in the measure files
(``codes:`` of a measure, an item and an answer option), so one definition serves the form, the
scoring and FHIR.
"""

from __future__ import annotations

import re

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

SDC_QUESTIONNAIRE = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire"
SDC_RESPONSE = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaireresponse"
ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
CALCULATED_EXPRESSION = (
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression"
)
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
MAX_DECIMAL_PLACES = "http://hl7.org/fhir/StructureDefinition/maxDecimalPlaces"
EPISODE_OF_CARE = "http://hl7.org/fhir/StructureDefinition/workflow-episodeOfCare"
"""The core extension that puts an event (here a QuestionnaireResponse) in an episode of care;
R4's QuestionnaireResponse has no element for it."""

TOTAL_LINK_ID = "total"
"""The read-only, calculated item that carries the total in a Questionnaire and its responses."""
INSTRUCTIONS_LINK_ID = "instructions"

# Value sets of the elements Ally writes (FHIR R4 and R4B; the same codes in both).
QUESTIONNAIRE_STATUSES = frozenset({"draft", "active", "retired", "unknown"})
RESPONSE_STATUSES = frozenset(
    {"in-progress", "completed", "amended", "entered-in-error", "stopped"}
)
STORED_RESPONSE_STATUSES = frozenset({"completed", "amended"})
OBSERVATION_STATUSES = frozenset(
    {
        "registered",
        "preliminary",
        "final",
        "amended",
        "corrected",
        "cancelled",
        "entered-in-error",
        "unknown",
    }
)
BUNDLE_TYPES = frozenset(
    {
        "document",
        "message",
        "transaction",
        "transaction-response",
        "batch",
        "batch-response",
        "history",
        "searchset",
        "collection",
    }
)
ITEM_TYPES = frozenset(
    {
        "group",
        "display",
        "boolean",
        "decimal",
        "integer",
        "date",
        "dateTime",
        "time",
        "string",
        "text",
        "url",
        "choice",
        "open-choice",
        "attachment",
        "reference",
        "quantity",
    }
)
SURVEY = "survey"

_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def fhir_id(ally_id: str) -> str:
    """A FHIR id for a measure or subscale id: FHIR ids allow no "_", Ally's allow no ".", so
    "_" becomes "." and the mapping stays one to one."""
    found = ally_id.replace("_", ".")
    if not _FHIR_ID.fullmatch(found):
        raise ValueError(
            f"{ally_id!r} cannot be a FHIR id (1 to 64 letters, digits, '-' or '.'); "
            "give the measure a shorter id"
        )
    return found


def ally_id(fhir_id_: str) -> str:
    """The measure or subscale id of a FHIR id made by `fhir_id`."""
    return fhir_id_.replace(".", "_")


def questionnaire_url(base: str, measure_id: str) -> str:
    """The canonical URL of a measure's Questionnaire on the server whose FHIR base is `base`."""
    return f"{base}/Questionnaire/{fhir_id(measure_id)}"


def code_system_url(base: str, measure_id: str) -> str:
    """Ally's code system for a measure without published codes: its items ("item-3"), answers
    ("answer-2"), total ("total") and subscales (their ids)."""
    return f"{base}/CodeSystem/{fhir_id(measure_id)}"


def answer_code(value: float) -> str:
    return f"answer-{value:g}"


def item_code(number: int) -> str:
    return f"item-{number}"
