"""FHIR over HTTP: what a signed-in member reads at /fhir/, scoped like the screens, and a
QuestionnaireResponse from another system stored once through the write path."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client as Browser
from django.urls import get_resolver, reverse
from django.utils import timezone
from web_practice import PHQ9_ITEM9, PHQ9_MILD, Practice, sign_in

from ally.interop.fhir import binding_issues, structure_issues
from ally.web.actions.answers import (
    do_amend_response,
    do_create_administration,
    do_record_response,
)
from ally.web.alerts.models import Alert
from ally.web.auditlog.models import AuditEntry
from ally.web.collect import measures
from ally.web.collect.models import Administration, Response
from ally.web.practice.models import Episode, Session

BASE = "http://testserver-base/fhir"
FHIR_JSON = "application/fhir+json"


@pytest.fixture(autouse=True)
def _base_url(settings: Any) -> None:
    settings.ALLY_BASE_URL = "http://testserver-base"


def _answered(episode: Episode, answers: list[int], key: str) -> Response:
    administration = do_create_administration(episode, "phq9")
    return do_record_response(administration, answers, idempotency_key=key)


def _browser(member: Any, **extra: Any) -> Browser:
    browser = Browser(**extra)
    sign_in(browser, member.user)
    return browser


def _get(browser: Browser, path: str) -> Any:
    return browser.get(path, HTTP_ACCEPT=FHIR_JSON)


def _layers(resource: dict[str, Any]) -> list[str]:
    library = measures.library().measures
    found = structure_issues(resource) + binding_issues(resource, library, BASE)
    return [str(issue) for issue in found]


def _phq9_response(episode: Episode, answers: list[int], **extra: Any) -> dict[str, Any]:
    """A QuestionnaireResponse as another system would send it: LOINC answer codes."""
    loinc = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{BASE}/Questionnaire/phq9|1.0",
        "status": "completed",
        "subject": {"reference": f"Patient/{episode.client_id}"},
        "authored": "2026-03-02T10:15:00+01:00",
        "item": [
            {
                "linkId": str(number),
                "answer": [{"valueCoding": {"system": "http://loinc.org", "code": loinc[value]}}],
            }
            for number, value in enumerate(answers, start=1)
        ],
    }
    resource.update(extra)
    return resource


def _post(browser: Browser, resource: dict[str, Any], **headers: str) -> Any:
    return browser.post(
        "/fhir/QuestionnaireResponse",
        data=json.dumps(resource),
        content_type=FHIR_JSON,
        headers=headers,
    )


# Reading ----------------------------------------------------------------------------------------


def test_the_library_is_served_as_questionnaires(practice: Practice) -> None:
    reply = _get(_browser(practice.clinician), "/fhir/Questionnaire")
    assert reply.status_code == 200
    assert reply["Content-Type"].startswith(FHIR_JSON)
    assert "no-store" in reply["Cache-Control"]
    bundle = reply.json()
    ids = sorted(e["resource"]["id"] for e in bundle["entry"])
    assert ids == sorted(m.id for m in measures.library())
    assert _layers(bundle) == []
    one = _get(_browser(practice.clinician), "/fhir/Questionnaire/phq9").json()
    assert one["url"] == f"{BASE}/Questionnaire/phq9"
    assert one["code"] == [{"system": "http://loinc.org", "code": "44249-1"}]


def test_a_german_speaking_member_gets_german_text(practice: Practice) -> None:
    browser = _browser(practice.clinician)
    one = browser.get("/fhir/Questionnaire/gad7", HTTP_ACCEPT_LANGUAGE="de").json()
    assert one["language"] == "de"


def test_without_signing_in_every_endpoint_answers_401_with_an_operation_outcome(
    practice: Practice,
) -> None:
    reply = Browser().get("/fhir/Questionnaire")
    assert reply.status_code == 401
    body = reply.json()
    assert body["resourceType"] == "OperationOutcome"
    assert "Sign in first" in body["issue"][0]["diagnostics"]


def test_a_clinicians_response_and_its_scores_are_served(practice: Practice) -> None:
    stored = _answered(practice.own, PHQ9_MILD, "k1")
    browser = _browser(practice.clinician)
    response = _get(browser, f"/fhir/QuestionnaireResponse/{stored.pk}").json()
    assert response["subject"] == {"reference": f"Patient/{practice.own.client_id}"}
    assert _layers(response) == []
    search = _get(browser, f"/fhir/Observation?subject=Patient/{practice.own.client_id}").json()
    (entry,) = search["entry"]
    total = entry["resource"]
    # PHQ-9 mild answers: 1+1+1+1+1+0+1+1+0 = 7.
    assert total["valueInteger"] == 7
    assert total["code"]["coding"][0] == {"system": "http://loinc.org", "code": "44261-6"}
    assert total["derivedFrom"] == [{"reference": f"QuestionnaireResponse/{stored.pk}"}]
    assert _layers(search) == []
    assert _get(browser, f"/fhir/Observation/{stored.pk}-total").json() == total
    text = json.dumps(search) + json.dumps(response)
    assert "Name of N-001" not in text
    assert "N-001" not in text


def test_another_caseload_or_practice_is_404(practice: Practice) -> None:
    other = _answered(practice.other, PHQ9_MILD, "k-other")
    elsewhere = _answered(practice.elsewhere, PHQ9_MILD, "k-elsewhere")
    browser = _browser(practice.clinician)
    for path in (
        f"/fhir/QuestionnaireResponse/{other.pk}",
        f"/fhir/QuestionnaireResponse/{elsewhere.pk}",
        f"/fhir/Observation/{other.pk}-total",
        f"/fhir/EpisodeOfCare/{practice.other.pk}",
        f"/fhir/EpisodeOfCare/{practice.elsewhere.pk}/$everything",
    ):
        reply = _get(browser, path)
        assert reply.status_code == 404, path
        assert reply.json()["resourceType"] == "OperationOutcome"
    search = _get(browser, f"/fhir/Observation?patient={practice.other.client_id}").json()
    assert search["total"] == 0
    # The supervisor sees the whole practice, but not the other one.
    supervisor = _browser(practice.supervisor)
    assert _get(supervisor, f"/fhir/QuestionnaireResponse/{other.pk}").status_code == 200
    assert _get(supervisor, f"/fhir/QuestionnaireResponse/{elsewhere.pk}").status_code == 404


def test_a_read_is_audited_under_the_member(practice: Practice) -> None:
    stored = _answered(practice.own, PHQ9_MILD, "k1")
    _get(_browser(practice.clinician), f"/fhir/QuestionnaireResponse/{stored.pk}")
    entry = AuditEntry.objects.filter(action="read").latest("pk")
    assert entry.actor_id == practice.clinician.pk


def test_an_episodes_everything_bundle(practice: Practice) -> None:
    first = _answered(practice.own, PHQ9_MILD, "k1")
    second = _answered(practice.own, PHQ9_ITEM9, "k2")
    bundle = _get(
        _browser(practice.clinician), f"/fhir/EpisodeOfCare/{practice.own.pk}/$everything"
    ).json()
    kinds = [(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]]
    assert kinds == [
        ("EpisodeOfCare", str(practice.own.pk)),
        ("QuestionnaireResponse", str(first.pk)),
        ("Observation", f"{first.pk}-total"),
        ("QuestionnaireResponse", str(second.pk)),
        ("Observation", f"{second.pk}-total"),
        ("Questionnaire", "phq9"),
    ]
    assert _layers(bundle) == []


def test_an_amended_response_is_served_with_the_amended_answers(practice: Practice) -> None:
    stored = _answered(practice.own, PHQ9_ITEM9, "k1")
    do_amend_response(stored, PHQ9_MILD, "Item 9 was typed in the wrong row.", practice.clinician)
    browser = _browser(practice.clinician)
    response = _get(browser, f"/fhir/QuestionnaireResponse/{stored.pk}").json()
    assert response["status"] == "amended"
    total = _get(browser, f"/fhir/Observation/{stored.pk}-total").json()
    assert (total["status"], total["valueInteger"]) == ("amended", 7)


# Storing ----------------------------------------------------------------------------------------


def test_a_posted_response_is_scored_stored_audited_and_raises_its_alert(
    practice: Practice,
) -> None:
    browser = _browser(practice.clinician)
    reply = _post(browser, _phq9_response(practice.own, PHQ9_ITEM9))
    assert reply.status_code == 201, reply.content
    body = reply.json()
    stored = Response.objects.get()
    assert body["id"] == str(stored.pk)
    assert reply["Location"] == f"{BASE}/QuestionnaireResponse/{stored.pk}"
    # 1+1+1+1+1+0+1+1+2 = 9; item 9 answered 2 ("more than half the days") is critical.
    assert (stored.total, stored.critical, stored.entered_by) == (9, True, practice.clinician)
    assert stored.administration.episode == practice.own
    alert = Alert.objects.get()
    assert (alert.kind, alert.item, alert.episode) == ("critical_item", 9, practice.own)
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"administration.created", "response.recorded", "alert.raised"} <= actions


def test_the_same_resource_posted_twice_is_stored_once(practice: Practice) -> None:
    browser = _browser(practice.clinician)
    resource = _phq9_response(practice.own, PHQ9_MILD)
    first = _post(browser, resource)
    again = _post(browser, resource)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    assert Response.objects.count() == 1
    assert Administration.objects.count() == 1


def test_an_idempotency_key_reused_for_other_answers_is_a_conflict(practice: Practice) -> None:
    browser = _browser(practice.clinician)
    assert (
        _post(
            browser, _phq9_response(practice.own, PHQ9_MILD), **{"Idempotency-Key": "x1"}
        ).status_code
        == 201
    )
    reply = _post(browser, _phq9_response(practice.own, PHQ9_ITEM9), **{"Idempotency-Key": "x1"})
    assert reply.status_code == 409
    assert "already used" in reply.json()["issue"][0]["diagnostics"]
    assert Administration.objects.count() == 1, "no empty administration is left behind"


def test_an_answer_out_of_range_is_refused_naming_its_linkid(practice: Practice) -> None:
    resource = _phq9_response(practice.own, PHQ9_MILD)
    resource["item"][2]["answer"] = [{"valueInteger": 7}]
    reply = _post(_browser(practice.clinician), resource)
    assert reply.status_code == 422
    (issue,) = reply.json()["issue"]
    assert issue["expression"] == ["QuestionnaireResponse.item.where(linkId='3')"]
    assert "answer 7 is out of range" in issue["diagnostics"]
    assert Response.objects.count() == 0
    assert Administration.objects.count() == 0


def test_a_structurally_wrong_resource_is_400_and_an_unknown_questionnaire_422(
    practice: Practice,
) -> None:
    browser = _browser(practice.clinician)
    broken = _phq9_response(practice.own, PHQ9_MILD)
    broken["item"][0]["answer"] = {"valueInteger": 1}  # a list in FHIR
    assert _post(browser, broken).status_code == 400
    unknown = _phq9_response(practice.own, PHQ9_MILD, questionnaire="http://x.org/Questionnaire/a")
    reply = _post(browser, unknown)
    assert reply.status_code == 422
    assert "unknown questionnaire" in reply.json()["issue"][0]["diagnostics"]


def test_a_response_for_another_practices_client_is_404(practice: Practice) -> None:
    reply = _post(_browser(practice.clinician), _phq9_response(practice.elsewhere, PHQ9_MILD))
    assert reply.status_code == 404
    reply = _post(_browser(practice.clinician), _phq9_response(practice.other, PHQ9_MILD))
    assert reply.status_code == 404, "another clinician's client"
    assert Response.objects.count() == 0


def test_a_researcher_may_read_but_not_post(practice: Practice) -> None:
    reply = _post(_browser(practice.researcher), _phq9_response(practice.own, PHQ9_MILD))
    assert reply.status_code == 403
    assert reply.json()["resourceType"] == "OperationOutcome"


def test_the_episode_and_session_come_from_the_extension_and_encounter(
    practice: Practice,
) -> None:
    session = Session.objects.create(
        organisation=practice.org, episode=practice.own, number=1, scheduled_at=timezone.now()
    )
    resource = _phq9_response(
        practice.own,
        PHQ9_MILD,
        encounter={"reference": f"Encounter/{session.pk}"},
        extension=[
            {
                "url": "http://hl7.org/fhir/StructureDefinition/workflow-episodeOfCare",
                "valueReference": {"reference": f"EpisodeOfCare/{practice.own.pk}"},
            }
        ],
    )
    assert _post(_browser(practice.clinician), resource).status_code == 201
    administration = Administration.objects.get()
    assert (administration.session, administration.episode) == (session, practice.own)


def test_a_client_with_two_open_episodes_needs_the_episode_named(practice: Practice) -> None:
    Episode.objects.create(
        organisation=practice.org,
        client=practice.own.client,
        clinician=practice.clinician,
        opened_on=practice.own.opened_on,
    )
    reply = _post(_browser(practice.clinician), _phq9_response(practice.own, PHQ9_MILD))
    assert reply.status_code == 422
    assert "workflow-episodeOfCare" in reply.json()["issue"][0]["diagnostics"]


def test_a_post_without_the_csrf_token_is_refused(practice: Practice) -> None:
    browser = _browser(practice.clinician, enforce_csrf_checks=True)
    reply = _post(browser, _phq9_response(practice.own, PHQ9_MILD))
    assert reply.status_code == 403
    assert "CSRF" in reply.json()["issue"][0]["diagnostics"]


def test_another_content_type_is_415(practice: Practice) -> None:
    reply = _browser(practice.clinician).post(
        "/fhir/QuestionnaireResponse", data="x", content_type="text/plain"
    )
    assert reply.status_code == 415


# Every FHIR view, walked from the URL configuration ---------------------------------------------

# What each view's id names; the library is every member's, the rest is scoped.
FHIR_VIEWS: dict[str, str | None] = {
    "fhir:metadata": "open",
    "fhir:questionnaires": None,
    "fhir:questionnaire": "questionnaire",
    "fhir:questionnaire_responses": None,
    "fhir:questionnaire_response": "response",
    "fhir:observations": None,
    "fhir:observation": "observation",
    "fhir:episode": "episode",
    "fhir:everything": "episode",
}


def test_every_fhir_view_is_in_the_table() -> None:
    resolver = next(
        p for p in get_resolver().url_patterns if getattr(p, "namespace", None) == "fhir"
    )
    assert {f"fhir:{p.name}" for p in resolver.url_patterns} == set(FHIR_VIEWS)


def _paths(practice: Practice) -> dict[str, str]:
    stored = _answered(practice.own, PHQ9_MILD, "k-walk")
    ids = {
        "questionnaire": "phq9",
        "response": str(stored.pk),
        "observation": f"{stored.pk}-total",
        "episode": str(practice.own.pk),
    }
    paths = {}
    for name, kind in FHIR_VIEWS.items():
        path = reverse(name, kwargs={"id": ids[kind]} if kind and kind != "open" else None)
        if name in ("fhir:observations", "fhir:questionnaire_responses"):
            path += f"?subject=Patient/{practice.own.client_id}"
        paths[name] = path
    return paths


def test_every_fhir_view_refuses_strangers_and_other_practices(practice: Practice) -> None:
    paths = _paths(practice)
    for name, path in paths.items():
        if FHIR_VIEWS[name] == "open":
            continue  # the CapabilityStatement, tested below
        assert Browser().get(path).status_code == 401, name
        outsider = _get(_browser(practice.outsider), path)
        scoped = FHIR_VIEWS[name] not in (None, "questionnaire")
        if scoped:
            assert outsider.status_code == 404, name
        elif name in ("fhir:observations", "fhir:questionnaire_responses"):
            assert outsider.json()["total"] == 0, name
        else:
            assert outsider.status_code == 200, name
        for member in (
            practice.clinician,
            practice.supervisor,
            practice.researcher,
            practice.admin,
        ):
            assert _get(_browser(member), path).status_code == 200, (name, member.role)
        colleague = _get(_browser(practice.colleague), path)
        assert colleague.status_code == (404 if scoped else 200), name


def test_the_capability_statement_is_open_and_names_no_data(practice: Practice) -> None:
    reply = Browser().get("/fhir/metadata")
    assert reply.status_code == 200
    statement = reply.json()
    assert statement["fhirVersion"] == "4.0.1"
    kinds = [r["type"] for r in statement["rest"][0]["resource"]]
    assert kinds == ["Questionnaire", "QuestionnaireResponse", "Observation", "EpisodeOfCare"]
    assert structure_issues(statement) == []
