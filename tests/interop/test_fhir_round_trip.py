"""Every shipped measure through FHIR and back, checked in the three validation layers:
(a) the fhir.resources R4B models, (b) Ally's checks of the codes and bindings those models
skip, (c) the FHIR JSON schema, which no pip package ships (so (c) runs only when a copy is
named in ALLY_FHIR_SCHEMA; see docs/interop.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from fhir_fixtures import BASE, LIBRARY, MEASURES, full_answers, record

from ally.interop.fhir import (
    EpisodeRecord,
    binding_issues,
    bundle_for_episode,
    observations,
    questionnaire,
    questionnaire_response,
    read_questionnaire_response,
    structure_issues,
)
from ally.scoring import score

SHIPPED = sorted(measure.id for measure in LIBRARY)

SCHEMA_MISSING = (
    "no FHIR R4/R4B JSON schema is available offline: neither fhir.resources 8.3.0 nor any pip "
    "package checked (fhir-jsonschema 0.0.1 is empty; fhirschemapy, pyfhircheck, "
    "fhir-validator-cli and fhirkit-rs ship none) contains fhir.schema.json, and Ally's tests "
    "do not download it. Save HL7's fhir.schema.json (R4 or R4B) and set ALLY_FHIR_SCHEMA to "
    "its path to run this layer."
)


def _schema_validator() -> Any:
    path = os.environ.get("ALLY_FHIR_SCHEMA")
    if not path:
        pytest.skip(SCHEMA_MISSING)
    import jsonschema

    schema = json.loads(Path(path).read_text(encoding="utf-8"))
    return jsonschema.Draft6Validator(schema)


def _all_layers(resource: dict[str, Any]) -> list[str]:
    """Layers (a) and (b): every issue, as text."""
    found = structure_issues(resource) + binding_issues(resource, MEASURES, BASE)
    return [str(issue) for issue in found]


@pytest.mark.parametrize("measure_id", SHIPPED)
def test_every_measure_round_trips_to_the_same_answers_and_scores(measure_id: str) -> None:
    measure = MEASURES[measure_id]
    answers = full_answers(measure)
    given = record(measure, answers)
    response = questionnaire_response(given, BASE)
    # Through JSON, as another system would send it back.
    back = read_questionnaire_response(json.loads(json.dumps(response)), MEASURES, BASE)
    assert back.measure_id == measure_id
    assert back.version == measure.version
    assert dict(back.answers) == answers
    assert (back.patient, back.episode, back.encounter) == ("7", "9", "23")
    rescored = score(measure, back.answers)
    assert rescored.total == given.scores.total
    assert dict(rescored.subscales) == dict(given.scores.subscales)
    found = {o["id"]: o for o in observations(given, BASE)}
    total = found["41-total"]
    value = total.get("valueInteger", total.get("valueQuantity", {}).get("value"))
    assert value == rescored.total


@pytest.mark.parametrize("measure_id", SHIPPED)
@pytest.mark.parametrize("language", ["en", "de"])
def test_every_resource_of_every_measure_passes_the_models_and_allys_checks(
    measure_id: str, language: str
) -> None:
    measure = MEASURES[measure_id]
    given = record(measure, full_answers(measure), language=language)
    resources = [
        questionnaire(measure, language, BASE),
        questionnaire_response(given, BASE),
        *observations(given, BASE),
        bundle_for_episode(EpisodeRecord("9", "7", given.authored.date()), [given], BASE),
    ]
    for resource in resources:
        assert _all_layers(resource) == [], resource["resourceType"]


def test_every_resource_of_every_measure_passes_the_fhir_json_schema() -> None:
    validator = _schema_validator()
    for measure_id in SHIPPED:
        measure = MEASURES[measure_id]
        given = record(measure, full_answers(measure))
        episode = EpisodeRecord("9", "7", given.authored.date())
        bundle = bundle_for_episode(episode, [given], BASE)
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(bundle)]
        assert errors == [], measure_id
