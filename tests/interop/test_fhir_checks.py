"""Ally's checks of codes and bindings (layer b) catch what the fhir.resources R4B models (layer a)
let through."""

from __future__ import annotations

import copy
from typing import Any

from fhir_fixtures import BASE, MEASURES, full_answers, record

from ally.interop.fhir import (
    binding_issues,
    observations,
    questionnaire,
    questionnaire_response,
    structure_issues,
)

PHQ9 = MEASURES["phq9"]


def _both(resource: dict[str, Any]) -> tuple[list[str], list[str]]:
    return (
        [str(i) for i in structure_issues(resource)],
        [str(i) for i in binding_issues(resource, MEASURES, BASE)],
    )


def test_a_status_outside_its_value_set_passes_the_models_but_not_allys_checks() -> None:
    # fhir.resources checks no code bindings: status "bogus" is accepted (research notes §6.5).
    for resource in (
        questionnaire(PHQ9, "en", BASE),
        questionnaire_response(record(PHQ9, full_answers(PHQ9)), BASE),
        observations(record(PHQ9, full_answers(PHQ9)), BASE)[0],
    ):
        resource["status"] = "bogus"
        structure, bindings = _both(resource)
        assert structure == []
        assert len(bindings) == 1
        assert "status 'bogus'" in bindings[0]


def test_a_wrong_ordinal_value_is_caught() -> None:
    resource = questionnaire(PHQ9, "en", BASE)
    resource["item"][3]["answerOption"][1]["extension"][0]["valueDecimal"] = 2
    structure, bindings = _both(resource)
    assert structure == []
    assert bindings == [
        "Questionnaire.item.where(linkId='3').answerOption: answer LA6569-3 has ordinalValue 2; "
        "the measure scores it 1"
    ]


def test_a_wrong_or_missing_loinc_code_is_caught() -> None:
    resource = questionnaire(PHQ9, "en", BASE)
    resource["code"] = [{"system": "http://loinc.org", "code": "44261-6"}]
    resource["item"][1]["code"] = [{"system": "http://loinc.org", "code": "44255-8"}]
    _, bindings = _both(resource)
    assert any(b.startswith("Questionnaire.code") for b in bindings)
    assert any("linkId='1').code" in b for b in bindings)


def test_an_answer_option_that_is_not_the_measures_is_caught() -> None:
    resource = questionnaire(PHQ9, "en", BASE)
    extra = copy.deepcopy(resource["item"][1]["answerOption"][0])
    extra["valueCoding"]["code"] = "LA6572-7"
    resource["item"][1]["answerOption"].append(extra)
    _, bindings = _both(resource)
    assert any("answer codes are not the measure's" in b for b in bindings)


def test_an_observation_needs_the_survey_category_a_score_code_and_its_response() -> None:
    observation = observations(record(PHQ9, full_answers(PHQ9)), BASE)[0]
    observation["category"][0]["coding"][0]["code"] = "laboratory"
    observation["code"]["coding"] = [{"system": f"{BASE}/CodeSystem/phq9", "code": "total"}]
    observation["derivedFrom"] = []
    structure, bindings = _both(observation)
    assert structure == []
    assert [b.split(":")[0] for b in bindings] == [
        "Observation.category",
        "Observation.code",
        "Observation.derivedFrom",
    ]


def test_the_models_catch_what_is_structurally_wrong() -> None:
    observation = observations(record(PHQ9, full_answers(PHQ9)), BASE)[0]
    del observation["code"]
    observation["valueDecimal"] = 3.5  # Observation has no valueDecimal in R4 or R4B
    structure, _ = _both(observation)
    assert sorted(s.split(":")[0] for s in structure) == [
        "Observation.code",
        "Observation.valueDecimal",
    ]
