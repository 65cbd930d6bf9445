"""API clients with tokens: each scope and reach against each operation, as roles are in
test_api.py; another practice's episode, a revoked client, an expired token and a missing scope;
every call audited under the client's name."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest
from api_tokens import bearer, register, token_for, token_reply
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken
from test_api import (
    ENDPOINTS,
    Call,
    _feedback,
    _record_response,
    _stored,
    send,
)
from web_practice import PHQ9_MILD, Practice, database_text

from ally.web.actions.answers import do_create_administration
from ally.web.actions.apiclients import do_revoke_api_client
from ally.web.auditlog.chain import verify
from ally.web.auditlog.models import AuditEntry
from ally.web.collect.models import Response
from ally.web.practice.models import Organisation
from ally.web.scoping import Role

READ = "episodes:read"
WRITE = "responses:write"


def _client_for(practice: Practice, kind: str) -> str:
    """A token of the kind the table names."""
    admin = practice.admin
    if kind == "read_practice":
        return token_for(register(admin, [READ]))
    if kind == "read_caseload_on_it":
        return token_for(register(admin, [READ], "caseload", practice.clinician))
    if kind == "both_caseload_not_on_it":
        return token_for(register(admin, [READ, WRITE], "caseload", practice.colleague))
    if kind == "write_practice":
        return token_for(register(admin, [WRITE]))
    if kind == "both_practice":
        return token_for(register(admin, [READ, WRITE]))
    if kind == "fhir_only":
        return token_for(register(admin, ["fhir:read"]))
    if kind == "other_organisation":
        south = Organisation.objects.get(slug="south")
        from web_practice import member

        return token_for(register(member(south, Role.ADMIN, "adm"), [READ, WRITE]))
    if kind == "revoked":
        registered = register(admin, [READ, WRITE])
        token = token_for(registered)
        do_revoke_api_client(admin, registered.client)
        return token
    if kind == "expired":
        token = token_for(register(admin, [READ, WRITE]))
        AccessToken.objects.update(expires=timezone.now() - dt.timedelta(seconds=1))
        return token
    if kind == "made_up":
        return "not-a-token-anyone-was-given"
    raise AssertionError(kind)


def _with_token(call: Call, token: str) -> Call:
    return Call(call.method, call.url, call.body, {**(call.headers or {}), **bearer(token)})


KINDS = (
    "read_practice",
    "read_caseload_on_it",
    "both_caseload_not_on_it",
    "write_practice",
    "both_practice",
    "fhir_only",
    "other_organisation",
    "revoked",
    "expired",
    "made_up",
)
# Each row: the statuses of an operation's kind (see test_api.ENDPOINTS) for each kind of token.
EXPECTED: dict[str, tuple[int, ...]] = {
    "lists": (200, 200, 200, 403, 200, 403, 404, 401, 401, 401),
    "read": (200, 200, 404, 403, 200, 403, 404, 401, 401, 401),
    "create": (403, 403, 404, 201, 201, 403, 404, 401, 401, 401),
    # Seeing and acting on alerts is a member's work: no scope gives it.
    "alert_write": (403, 403, 403, 403, 403, 403, 404, 401, 401, 401),
    # Running episodes (ending one) is a member's work too.
    "episode_write": (403, 403, 403, 403, 403, 403, 404, 401, 401, 401),
    # Only research:export gives the research export (test_research_export has that token).
    "export": (403, 403, 403, 403, 403, 403, 404, 401, 401, 401),
}
ENDPOINT_KIND = {
    "_episodes": "lists",
    "_alerts": "lists",
    "_episode": "read",
    "_feedback": "read",
    "_administrations": "read",
    "_goals": "read",
    "_ending": "read",
    "_end_episode": "episode_write",
    "_create_administration": "create",
    "_record_response": "create",
    "_seen": "alert_write",
    "_acted": "alert_write",
    "_research_export": "export",
    "_groups": "lists",
    "_group": "read",
    "_group_sessions": "read",
    "_group_levels": "read",
}
TABLE = [
    pytest.param(endpoint, kind, status, id=f"{endpoint.__name__[1:]}-{kind}")
    for endpoint, _statuses in ENDPOINTS
    for kind, status in zip(KINDS, EXPECTED[ENDPOINT_KIND[endpoint.__name__]], strict=True)
]


@pytest.mark.parametrize(("endpoint", "kind", "status"), TABLE)
def test_each_scope_and_reach_gets_its_status_and_no_identity(
    practice: Practice, endpoint: Callable[[Practice], Call], kind: str, status: int
) -> None:
    call = endpoint(practice)
    token = _client_for(practice, kind)
    before = _stored()
    # A program's client: no cookie, and CSRF checks on, which a bearer token does not need.
    reply = send(Client(enforce_csrf_checks=True), _with_token(call, token))
    assert reply.status_code == status, reply.content
    text = reply.content.decode()
    assert "Name of" not in text
    assert "example" not in text
    body = json.loads(text)
    if status >= 400:
        assert set(body) == {"detail", "errors"}
        assert _stored() == before, "a refused request changed nothing"
    else:
        assert _stored() != before if call.method == "post" else _stored() == before
    if status == 401:
        assert reply["WWW-Authenticate"] == 'Bearer realm="Ally", error="invalid_token"'


def test_a_missing_scope_is_a_403_that_names_it(practice: Practice) -> None:
    token = token_for(register(practice.admin, [READ]))
    reply = send(Client(), _with_token(_record_response(practice), token))
    assert reply.status_code == 403
    assert "responses:write" in reply.json()["detail"]
    assert reply["WWW-Authenticate"] == 'Bearer realm="Ally", error="insufficient_scope"'
    no_read = token_for(register(practice.admin, [WRITE]))
    reply = Client().get(_feedback(practice).url, headers=bearer(no_read))
    assert (reply.status_code, "episodes:read" in reply.json()["detail"]) == (403, True)


def test_a_token_asked_for_fewer_scopes_has_only_those(practice: Practice) -> None:
    registered = register(practice.admin, [READ, WRITE])
    token = token_for(registered, scope=READ)
    assert Client().get(_feedback(practice).url, headers=bearer(token)).status_code == 200
    refused = send(Client(), _with_token(_record_response(practice), token))
    assert refused.status_code == 403
    # A scope the client was not given is refused at the token endpoint.
    reading_only = register(practice.admin, [READ])
    assert token_reply(reading_only, scope=WRITE).status_code == 400


def test_the_token_endpoint_refuses_wrong_or_revoked_credentials(practice: Practice) -> None:
    registered = register(practice.admin, [READ])
    reply = token_reply(registered)
    assert reply.status_code == 200
    assert reply.json()["expires_in"] == 3600
    assert reply.json()["token_type"] == "Bearer"
    wrong = registered.__class__(registered.client, registered.client_id, "wrong-secret")
    assert token_reply(wrong).status_code == 401
    do_revoke_api_client(practice.admin, registered.client)
    assert token_reply(registered).status_code == 401
    assert not AccessToken.objects.exists(), "revoking deletes the client's tokens"


def test_a_caseload_client_whose_clinician_left_sees_nothing(practice: Practice) -> None:
    registered = register(practice.admin, [READ], "caseload", practice.clinician)
    token = token_for(registered)
    practice.clinician.is_active = False
    practice.clinician.save()
    assert Client().get("/api/o/north/episodes", headers=bearer(token)).status_code == 401
    assert token_reply(registered).status_code == 401


def test_a_caseload_client_lists_only_its_clinicians_episodes(practice: Practice) -> None:
    token = token_for(register(practice.admin, [READ], "caseload", practice.clinician))
    body = Client().get("/api/o/north/episodes", headers=bearer(token)).json()
    assert sorted(row["client_code"] for row in body["items"]) == ["N-001", "N-002"]


def test_every_call_with_a_token_is_audited_under_the_clients_name(
    practice: Practice,
) -> None:
    registered = register(practice.admin, [READ, WRITE], name="Records bridge")
    token = token_for(registered)
    assert Client().get(_feedback(practice).url, headers=bearer(token)).status_code == 200
    administration = do_create_administration(practice.own, "phq9")
    reply = Client().post(
        f"/api/o/north/administrations/{administration.pk}/responses",
        data=json.dumps({"answers": dict(enumerate(PHQ9_MILD, start=1))}),
        content_type="application/json",
        headers={"Idempotency-Key": "bridge-1", **bearer(token)},
    )
    assert reply.status_code == 201
    client_pk = registered.client.pk
    read = AuditEntry.objects.get(action="read", target_id=str(practice.own.pk))
    recorded = AuditEntry.objects.get(action="response.recorded")
    for entry in (read, recorded):
        assert (entry.api_client_id, entry.actor_id) == (client_pk, None)
    assert Response.objects.get().entered_by is None
    assert verify().holds
    # The administrators' log names the client.
    from web_practice import sign_in

    browser = Client()
    sign_in(browser, practice.admin.user)
    page = browser.get("/o/north/audit/").content.decode()
    assert "API client “Records bridge”" in page


def test_the_secret_is_stored_only_hashed(practice: Practice) -> None:
    registered = register(practice.admin, [READ])
    token = token_for(registered)
    assert registered.client_secret not in database_text()
    assert len(registered.client_secret) >= 40
    # Tokens are looked up by their SHA-256 (django-oauth-toolkit's token_checksum), and the
    # token itself is not kept (RFC 9700 token storage): a copied database holds none.
    assert AccessToken.objects.get().token_checksum != token
    assert token not in database_text()
