"""Each score of an administration as an Observation: the total and every subscale, category
"survey", derived from the QuestionnaireResponse.

The plain valueInteger on the total's LOINC code (44261-6 for the PHQ-9) is the common pattern
(HL7 Personal Health Record IG examples; research notes §6.3); a score that need not be whole
(prorated, a mean, visual-analogue lines) is a valueQuantity in {score}, with a note when
prorated saying from how many items.
"""

from __future__ import annotations

from typing import Any

from ally.interop.fhir import codes
from ally.interop.fhir.questionnaire import Resource, subscale_codings, total_codings
from ally.interop.fhir.records import AdministrationRecord
from ally.interop.fhir.response import reference, score_value


def survey_category() -> dict[str, Any]:
    """A new copy each time: a caller may change the resource it is given."""
    return {
        "coding": [
            {"system": codes.OBSERVATION_CATEGORY, "code": codes.SURVEY, "display": "Survey"}
        ]
    }


def observation_id(response_id: str, score: str) -> str:
    """ "12-total", "12-bond": one Observation per score of response 12."""
    return f"{response_id}-{codes.fhir_id(score)}"


def _observation(
    record: AdministrationRecord, score_id: str, code: dict[str, Any], value: float
) -> Resource:
    measure = record.measure
    scores = record.scores
    resource: Resource = {
        "resourceType": "Observation",
        "id": observation_id(record.id, score_id),
        "status": "amended" if record.amended else "final",
        "category": [survey_category()],
        "code": code,
        "subject": reference("Patient", record.patient),
        "effectiveDateTime": record.authored.isoformat(),
        **score_value(measure, value, scores.prorated),
        "derivedFrom": [reference("QuestionnaireResponse", record.id)],
    }
    if record.encounter is not None:
        resource["encounter"] = reference("Encounter", record.encounter)
    if scores.prorated:
        resource["note"] = [
            {
                "text": f"Prorated: {scores.answered} of {len(measure.items)} items answered; "
                f"the score is scaled to all items as {measure.name}'s scoring rule allows."
            }
        ]
    return resource


def observations(record: AdministrationRecord, base: str) -> list[Resource]:
    """The total's Observation, then one per subscale that has a score (a subscale with too few
    answers has none, and so no Observation)."""
    measure = record.measure
    found = [
        _observation(
            record,
            codes.TOTAL_LINK_ID,
            {"coding": total_codings(measure, base), "text": f"{measure.name} total score"},
            record.scores.total,
        )
    ]
    if record.scores.band:
        found[0]["interpretation"] = [{"text": record.scores.band}]
    names = {sub.id: sub.name for sub in measure.scoring.subscales}
    for subscale_id, value in record.scores.subscales.items():
        if value is None:
            continue
        name = names.get(subscale_id, {}).get("en", subscale_id)
        found.append(
            _observation(
                record,
                subscale_id,
                {
                    "coding": subscale_codings(measure, subscale_id, base),
                    "text": f"{measure.name} {name} subscale score",
                },
                value,
            )
        )
    return found
