"""What Ally's FHIR resources say: LOINC codes where they exist, Ally's codes elsewhere, the
licence in copyright, ordinal values equal to the scored values, no text that may not ship."""

from __future__ import annotations

import datetime as dt

from fhir_fixtures import BASE, MEASURES, full_answers, record

from ally.interop.fhir import (
    EpisodeRecord,
    bundle_for_episode,
    observations,
    questionnaire,
    questionnaire_response,
)
from ally.interop.fhir.codes import LOINC, ORDINAL_VALUE

# LOINC codes: HL7 Personal Health Record IG, Questionnaire-ScoredAssessment-PHQ9.fsh and
# -GAD7.fsh (research notes §6.1).
PHQ9_ITEMS = [
    "44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3",
    "44260-8",
]  # fmt: skip
GAD7_ITEMS = ["69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7"]
LL358_3 = {"LA6568-5": 0, "LA6569-3": 1, "LA6570-1": 2, "LA6571-9": 3}


def _items(resource: dict) -> dict[str, dict]:
    return {item["linkId"]: item for item in resource["item"]}


def test_the_phq9_questionnaire_carries_its_loinc_panel_item_and_answer_codes() -> None:
    found = questionnaire(MEASURES["phq9"], "en", BASE)
    assert found["code"] == [{"system": LOINC, "code": "44249-1"}]
    items = _items(found)
    assert [items[str(n)]["code"][0]["code"] for n in range(1, 10)] == PHQ9_ITEMS
    for n in range(1, 10):
        options = items[str(n)]["answerOption"]
        codes = {o["valueCoding"]["code"]: o["extension"][0]["valueDecimal"] for o in options}
        assert codes == LL358_3
        assert {o["extension"][0]["url"] for o in options} == {ORDINAL_VALUE}
    assert items["total"]["code"][0] == {"system": LOINC, "code": "44261-6"}
    assert items["total"]["readOnly"] is True
    assert items["1"]["text"] == "Little interest or pleasure in doing things"


def test_the_gad7_questionnaire_and_total_use_loinc() -> None:
    measure = MEASURES["gad7"]
    found = questionnaire(measure, "de", BASE)
    assert found["code"] == [{"system": LOINC, "code": "69737-5"}]
    assert found["language"] == "de"
    items = _items(found)
    assert [items[str(n)]["code"][0]["code"] for n in range(1, 8)] == GAD7_ITEMS
    assert items["1"]["answerOption"][0]["valueCoding"]["display"] == "Überhaupt nicht"
    total = observations(record(measure, full_answers(measure)), BASE)[0]
    assert total["code"]["coding"] == [{"system": LOINC, "code": "70274-6"}]


def test_a_measure_whose_text_may_not_ship_has_codes_and_weights_but_no_text() -> None:
    for measure_id in ("oq45", "wai-sr", "srs", "ors"):
        measure = MEASURES[measure_id]
        assert not measure.licence.text_may_ship
        found = questionnaire(measure, "en", BASE)
        assert "language" not in found
        for item in found["item"]:
            if item["linkId"] == "total":
                continue
            assert "text" not in item, (measure_id, item["linkId"])
            assert item["code"][0]["system"] == f"{BASE}/CodeSystem/{found['id']}"
            for option in item.get("answerOption", []):
                assert "display" not in option["valueCoding"]
        assert "licensees supply their own" in found["copyright"]


def test_the_licence_and_its_attribution_are_in_copyright() -> None:
    found = questionnaire(MEASURES["core10"], "en", BASE)
    assert "CC BY-NC-ND 4.0" in found["copyright"]
    assert "© CORE System Trust" in found["copyright"]


def test_a_reverse_keyed_item_weighs_each_answer_as_it_is_scored() -> None:
    # OQ-45 item 1 is reverse-keyed (0-4): answer 0 scores 4 (oq45.yaml).
    items = _items(questionnaire(MEASURES["oq45"], "en", BASE))
    weights = {
        o["valueCoding"]["code"]: o["extension"][0]["valueDecimal"]
        for o in items["1"]["answerOption"]
    }
    assert weights == {"answer-0": 4, "answer-1": 3, "answer-2": 2, "answer-3": 1, "answer-4": 0}
    plain = {
        o["valueCoding"]["code"]: o["extension"][0]["valueDecimal"]
        for o in items["2"]["answerOption"]
    }
    assert plain["answer-0"] == 0


def test_a_german_questionnaire_of_a_measure_without_german_text_is_in_english() -> None:
    found = questionnaire(MEASURES["core10"], "de", BASE)
    assert found["language"] == "en"


def test_each_score_is_an_observation_derived_from_its_response() -> None:
    measure = MEASURES["ally-alliance"]
    given = record(measure, full_answers(measure))
    found = observations(given, BASE)
    assert [o["id"] for o in found] == ["41-total", "41-bond", "41-goals", "41-tasks", "41-overall"]
    for observation in found:
        assert observation["category"][0]["coding"][0]["code"] == "survey"
        assert observation["derivedFrom"] == [{"reference": "QuestionnaireResponse/41"}]
        assert observation["subject"] == {"reference": "Patient/7"}
        assert "valueInteger" in observation
    assert found[0]["valueInteger"] == given.scores.total


def test_a_prorated_score_is_a_quantity_with_a_note() -> None:
    measure = MEASURES["phq9"]
    # Eight of nine items: 1 * 8 = 8, prorated to 8 * 9 / 8 = 9 (phq9.yaml allows 2 missing).
    answers: dict[int, float | None] = {n: 1 for n in range(1, 9)}
    answers[9] = None
    total = observations(record(measure, answers), BASE)[0]
    assert "valueInteger" not in total
    assert total["valueQuantity"] == {
        "value": 9.0,
        "unit": "{score}",
        "system": "http://unitsofmeasure.org",
        "code": "{score}",
    }
    assert "8 of 9" in total["note"][0]["text"]
    response = questionnaire_response(record(measure, answers), BASE)
    assert "9" not in _items(response), "an unanswered item is left out"


def test_a_subscale_with_too_few_answers_has_no_observation() -> None:
    measure = MEASURES["ally-alliance"]
    answers: dict[int, float | None] = dict(full_answers(measure))
    answers[7] = None  # the one "overall" item; the total is prorated from six
    ids = [o["id"] for o in observations(record(measure, answers), BASE)]
    assert "41-overall" not in ids
    assert "41-total" in ids


def test_the_episode_bundle_holds_the_episode_responses_scores_and_questionnaires() -> None:
    phq9, srs = MEASURES["phq9"], MEASURES["srs"]
    first = record(phq9, full_answers(phq9), id="1")
    second = record(srs, full_answers(srs), id="2")
    episode = EpisodeRecord("9", "7", dt.date(2026, 1, 5), dt.date(2026, 4, 1), organisation="3")
    bundle = bundle_for_episode(episode, [first, second], BASE)
    assert bundle["type"] == "searchset"
    kinds = [(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]]
    assert kinds == [
        ("EpisodeOfCare", "9"),
        ("QuestionnaireResponse", "1"),
        ("Observation", "1-total"),
        ("QuestionnaireResponse", "2"),
        ("Observation", "2-total"),
        ("Observation", "2-bond"),
        ("Observation", "2-goals"),
        ("Observation", "2-tasks"),
        ("Observation", "2-overall"),
        ("Questionnaire", "phq9"),
        ("Questionnaire", "srs"),
    ]
    assert bundle["entry"][0]["resource"]["status"] == "finished"
    assert bundle["entry"][0]["fullUrl"] == f"{BASE}/EpisodeOfCare/9"


def test_no_resource_names_the_client() -> None:
    measure = MEASURES["phq9"]
    given = record(measure, full_answers(measure))
    response = questionnaire_response(given, BASE)
    assert response["subject"] == {"reference": "Patient/7"}
    assert "display" not in response["subject"]
