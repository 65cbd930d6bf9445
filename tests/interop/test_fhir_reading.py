"""Reading a QuestionnaireResponse from another system: what Ally takes, and errors that name
the linkId and what is wrong."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fhir_fixtures import BASE, MEASURES, full_answers, record

from ally.interop.fhir import FhirReadError, Respondent, questionnaire_response
from ally.interop.fhir import read_questionnaire_response as read

PHQ9 = MEASURES["phq9"]


def _phq9(answers: dict[int, float | None] | None = None) -> dict[str, Any]:
    return questionnaire_response(record(PHQ9, answers or full_answers(PHQ9)), BASE)


def _problems(resource: dict[str, Any]) -> list[str]:
    with pytest.raises(FhirReadError) as caught:
        read(resource, MEASURES, BASE)
    return [str(issue) for issue in caught.value.issues]


def _item(resource: dict[str, Any], link_id: str) -> dict[str, Any]:
    return next(i for i in resource["item"] if i["linkId"] == link_id)


def test_an_unknown_questionnaire_is_refused_naming_the_known_ones() -> None:
    resource = _phq9()
    resource["questionnaire"] = "http://hl7.org/fhir/uv/sdc/Questionnaire/phq-9"
    (problem,) = _problems(resource)
    assert "unknown questionnaire 'http://hl7.org/fhir/uv/sdc/Questionnaire/phq-9'" in problem
    assert f"{BASE}/Questionnaire/phq9" in problem


def test_another_version_of_the_questionnaire_is_refused() -> None:
    resource = _phq9()
    resource["questionnaire"] = f"{BASE}/Questionnaire/phq9|0.9"
    (problem,) = _problems(resource)
    assert "version 0.9" in problem
    assert "version 1.0" in problem


def test_an_answer_code_outside_the_options_names_its_linkid_and_the_options() -> None:
    resource = _phq9()
    _item(resource, "4")["answer"] = [
        {"valueCoding": {"system": "http://loinc.org", "code": "LA9999-9"}}
    ]
    (problem,) = _problems(resource)
    assert problem.startswith("QuestionnaireResponse.item.where(linkId='4')")
    assert "'LA9999-9'" in problem
    assert "LA6571-9 (value 3)" in problem


def test_a_number_out_of_range_is_refused() -> None:
    resource = _phq9()
    _item(resource, "2")["answer"] = [{"valueInteger": 4}]
    (problem,) = _problems(resource)
    assert "linkId='2'" in problem
    assert "answer 4 is out of range" in problem


def test_a_line_mark_off_the_line_is_refused() -> None:
    srs = MEASURES["srs"]
    resource = questionnaire_response(record(srs, full_answers(srs)), BASE)
    _item(resource, "3")["answer"] = [{"valueDecimal": 10.5}]
    (problem,) = _problems(resource)
    assert "linkId='3'" in problem
    assert "0 to 10 in steps of 0.1" in problem


def test_a_missing_required_item_is_named() -> None:
    # The SRS is scored only with all four lines (srs.yaml: min_answered 4), so each is required.
    srs = MEASURES["srs"]
    resource = questionnaire_response(record(srs, full_answers(srs)), BASE)
    resource["item"] = [i for i in resource["item"] if i["linkId"] != "2"]
    (problem,) = _problems(resource)
    assert problem.startswith("QuestionnaireResponse.item.where(linkId='2')")
    assert "item 2 is required" in problem


def test_too_many_unanswered_items_for_the_scoring_rule_is_refused() -> None:
    resource = _phq9()
    resource["item"] = [i for i in resource["item"] if i["linkId"] in ("1", "2", "3", "total")]
    problems = _problems(resource)
    assert len(problems) == 1
    assert (
        problems[0]
        == "QuestionnaireResponse.item: 3 of 9 items answered; at least 7 are needed for a score"
    )


def test_an_unknown_linkid_is_named() -> None:
    resource = _phq9()
    resource["item"].append({"linkId": "10", "answer": [{"valueInteger": 1}]})
    (problem,) = _problems(resource)
    assert "unknown linkId '10'" in problem
    assert "1 to 9" in problem


def test_an_unfinished_response_is_refused() -> None:
    resource = _phq9()
    resource["status"] = "in-progress"
    (problem,) = _problems(resource)
    assert "status is 'in-progress'" in problem


def test_every_problem_is_reported_at_once() -> None:
    resource = _phq9()
    resource["status"] = "stopped"
    _item(resource, "1")["answer"] = [{"valueInteger": 9}]
    _item(resource, "5")["answer"] = [{"valueInteger": 1}, {"valueInteger": 2}]
    assert len(_problems(resource)) == 3


def test_loinc_linkids_and_groups_are_read_as_the_hl7_phr_ig_writes_them() -> None:
    resource = _phq9()
    items = [copy.deepcopy(i) for i in resource["item"] if i["linkId"] != "total"]
    for item in items:
        item["linkId"] = PHQ9.item(int(item["linkId"])).codes["loinc"]
    resource["item"] = [{"linkId": "phq9-group", "item": items}]
    assert dict(read(resource, MEASURES, BASE).answers) == full_answers(PHQ9)


def test_a_plain_number_is_taken_for_an_option_with_that_value() -> None:
    resource = _phq9()
    _item(resource, "1")["answer"] = [{"valueInteger": 2}]
    assert read(resource, MEASURES, BASE).answers[1] == 2


def test_the_source_says_who_answered() -> None:
    resource = _phq9()
    resource["source"] = {"reference": "Practitioner/5"}
    assert read(resource, MEASURES, BASE).respondent is Respondent.CLINICIAN
    resource["source"] = {"reference": "Device/1"}
    (problem,) = _problems(resource)
    assert problem.startswith("QuestionnaireResponse.source")


def test_a_sent_total_is_not_taken_ally_scores_the_answers() -> None:
    resource = _phq9()
    _item(resource, "total")["answer"] = [{"valueDecimal": 99}]
    assert dict(read(resource, MEASURES, BASE).answers) == full_answers(PHQ9)
