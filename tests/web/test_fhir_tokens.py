"""FHIR with an API client's token: fhir:read reads, responses:write posts, within the client's
reach, audited under the client's name; and a signed-out browser gets a 401 OperationOutcome."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from api_tokens import bearer, register, token_for
from django.test import Client as Browser
from test_openapi_clients import live_server  # noqa: F401  (a plain-HTTP live server)
from web_practice import PHQ9_MILD, Practice, sign_in

from ally.web.accounts.sessions import SEEN_AT
from ally.web.actions.answers import do_create_administration, do_record_response
from ally.web.auditlog.models import AuditEntry
from ally.web.collect.models import Response
from ally.web.practice.models import Episode

FHIR_JSON = "application/fhir+json"
BASE = "http://testserver-base/fhir"


@pytest.fixture(autouse=True)
def _base_url(settings: Any) -> None:
    settings.ALLY_BASE_URL = "http://testserver-base"


def _answered(episode: Episode, key: str) -> Response:
    administration = do_create_administration(episode, "phq9")
    return do_record_response(administration, PHQ9_MILD, idempotency_key=key)


def _get(token: str, path: str) -> Any:
    return Browser().get(path, headers=bearer(token) | {"Accept": FHIR_JSON})


def _outcome(reply: Any, status: int) -> str:
    assert reply.status_code == status, reply.content
    body = reply.json()
    assert body["resourceType"] == "OperationOutcome"
    return str(body["issue"][0]["diagnostics"])


def test_a_token_with_fhir_read_reads_a_questionnaire_and_an_episode_bundle(
    practice: Practice,
) -> None:
    stored = _answered(practice.own, "k1")
    client = register(practice.admin, ["fhir:read"])
    token = token_for(client)
    questionnaire = _get(token, "/fhir/Questionnaire/phq9")
    assert questionnaire.status_code == 200
    assert questionnaire.json()["url"] == f"{BASE}/Questionnaire/phq9"
    bundle = _get(token, f"/fhir/EpisodeOfCare/{practice.own.pk}/$everything")
    assert bundle.status_code == 200
    ids = [e["resource"]["id"] for e in bundle.json()["entry"]]
    assert str(stored.pk) in ids
    # Audited under the client's name, not a person's.
    entry = AuditEntry.objects.filter(action="read").latest("pk")
    assert (entry.api_client_id, entry.actor_id) == (client.client.pk, None)
    assert entry.target_type == "fhir:everything"


def test_a_token_without_the_scope_is_refused_naming_it(practice: Practice) -> None:
    token = token_for(register(practice.admin, ["episodes:read"]))
    message = _outcome(_get(token, "/fhir/Questionnaire/phq9"), 403)
    assert "fhir:read" in message
    reader = token_for(register(practice.admin, ["fhir:read"], name="Reader"))
    resource = {"resourceType": "QuestionnaireResponse", "status": "completed"}
    posted = Browser().post(
        "/fhir/QuestionnaireResponse",
        data=json.dumps(resource),
        content_type=FHIR_JSON,
        headers=bearer(reader),
    )
    assert "responses:write" in _outcome(posted, 403)


def test_a_token_reaches_only_its_clients_episodes(practice: Practice) -> None:
    other = _answered(practice.other, "k-other")
    elsewhere = _answered(practice.elsewhere, "k-elsewhere")
    caseload = token_for(
        register(practice.admin, ["fhir:read"], reach="caseload", clinician=practice.clinician)
    )
    for path in (
        f"/fhir/QuestionnaireResponse/{other.pk}",
        f"/fhir/QuestionnaireResponse/{elsewhere.pk}",
        f"/fhir/EpisodeOfCare/{practice.other.pk}/$everything",
        f"/fhir/EpisodeOfCare/{practice.elsewhere.pk}",
    ):
        _outcome(_get(caseload, path), 404)
    assert _get(caseload, f"/fhir/EpisodeOfCare/{practice.own.pk}").status_code == 200
    whole = token_for(register(practice.admin, ["fhir:read"], name="Whole practice"))
    assert _get(whole, f"/fhir/QuestionnaireResponse/{other.pk}").status_code == 200
    _outcome(_get(whole, f"/fhir/QuestionnaireResponse/{elsewhere.pk}"), 404)


def test_a_token_with_responses_write_posts_a_response_stored_under_the_client(
    practice: Practice,
) -> None:
    loinc = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]
    resource = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{BASE}/Questionnaire/phq9|1.0",
        "status": "completed",
        "subject": {"reference": f"Patient/{practice.own.client_id}"},
        "authored": "2026-03-02T10:15:00+01:00",
        "item": [
            {
                "linkId": str(n),
                "answer": [{"valueCoding": {"system": "http://loinc.org", "code": loinc[v]}}],
            }
            for n, v in enumerate(PHQ9_MILD, start=1)
        ],
    }
    client = register(practice.admin, ["responses:write"])
    reply = Browser().post(
        "/fhir/QuestionnaireResponse",
        data=json.dumps(resource),
        content_type=FHIR_JSON,
        headers=bearer(token_for(client)),
    )
    assert reply.status_code == 201, reply.content
    stored = Response.objects.get(pk=reply.json()["id"])
    assert stored.administration.episode == practice.own
    entry = AuditEntry.objects.filter(action="response.recorded").latest("pk")
    assert entry.api_client_id == client.client.pk


def test_an_unknown_or_expired_token_is_401(practice: Practice) -> None:
    assert "new one" in _outcome(_get("not-a-token", "/fhir/Questionnaire"), 401)


def test_a_signed_out_session_on_fhir_is_a_401_outcome_not_a_redirect(
    practice: Practice, settings: Any
) -> None:
    browser = Browser()
    sign_in(browser, practice.clinician.user)
    assert browser.get("/fhir/Questionnaire").status_code == 200
    session = browser.session
    # Idle for longer than the idle limit (accounts.sessions).
    session[SEEN_AT] = time.time() - (settings.ALLY_SESSION_IDLE_MINUTES + 5) * 60
    session.save()
    reply = browser.get("/fhir/Questionnaire")
    _outcome(reply, 401)


def test_a_token_client_reads_feedback_and_posts_a_response_against_a_running_server(
    live_server: Any,  # noqa: F811
) -> None:
    """What a health record's integration does, over HTTP: a token by client credentials, the
    episode's feedback from the API, then a QuestionnaireResponse posted to /fhir/."""
    import httpx
    from web_practice import build_practice

    practice: Practice = build_practice()
    registered = register(practice.admin, ["episodes:read", "fhir:read", "responses:write"])
    granted = httpx.post(
        f"{live_server.url}/oauth/token/",
        data={"grant_type": "client_credentials"},
        auth=(registered.client_id, registered.client_secret),
        timeout=10,
    )
    assert granted.status_code == 200, granted.text
    token = bearer(granted.json()["access_token"])
    feedback = f"{live_server.url}/api/o/north/episodes/{practice.own.pk}/feedback"
    before = httpx.get(feedback, headers=token, timeout=10)
    assert before.status_code == 200, before.text
    assert before.json()["sessions"] == []

    loinc = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]
    resource = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{BASE}/Questionnaire/phq9|1.0",
        "status": "completed",
        "subject": {"reference": f"Patient/{practice.own.client_id}"},
        "item": [
            {
                "linkId": str(n),
                "answer": [{"valueCoding": {"system": "http://loinc.org", "code": loinc[v]}}],
            }
            for n, v in enumerate(PHQ9_MILD, start=1)
        ],
    }
    posted = httpx.post(
        f"{live_server.url}/fhir/QuestionnaireResponse",
        content=json.dumps(resource),
        headers=token | {"Content-Type": FHIR_JSON},
        timeout=10,
    )
    assert posted.status_code == 201, posted.text
    assert posted.json()["resourceType"] == "QuestionnaireResponse"
    stored = Response.objects.get(pk=posted.json()["id"])
    assert (stored.administration.episode_id, stored.total) == (practice.own.pk, sum(PHQ9_MILD))
    assert stored.entered_by is None
    entry = AuditEntry.objects.filter(action="response.recorded").latest("pk")
    assert entry.api_client_id == registered.client.pk
