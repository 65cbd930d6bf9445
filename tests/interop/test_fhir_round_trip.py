"""Every shipped measure through FHIR and back, checked in the three validation layers:
(a) the fhir.resources R4B models, (b) Ally's checks of the codes and bindings those models
skip, (c) HL7's FHIR R4 JSON schema (a copy in tests/interop/data; ALLY_FHIR_SCHEMA may name
another, see docs/interop.md)."""

from __future__ import annotations

import gzip
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

SCHEMA = Path(__file__).parent / "data" / "fhir-r4.schema.json.gz"


def _schema_validator() -> Any:
    import jsonschema

    path = os.environ.get("ALLY_FHIR_SCHEMA")
    text = Path(path).read_bytes() if path else gzip.decompress(SCHEMA.read_bytes())
    schema = json.loads(text)
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
        for resource in (
            bundle,
            questionnaire(measure, "en", BASE),
            questionnaire(measure, "de", BASE),
        ):
            errors = [
                f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(resource)
            ]
            assert errors == [], measure_id
    # The schema does check what the models let through: a status outside its value set.
    wrong = questionnaire_response(record(MEASURES["phq9"], full_answers(MEASURES["phq9"])), BASE)
    assert not list(validator.iter_errors(wrong))
    wrong["status"] = "bogus"
    assert list(validator.iter_errors(wrong))
