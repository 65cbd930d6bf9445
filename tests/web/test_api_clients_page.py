"""The API clients page: an administrator registers a client, sees its secret once, and revokes
it; no other role reaches the page."""

from __future__ import annotations

import pytest
from django.test import Client
from oauth2_provider.models import AccessToken
from web_practice import Practice, database_text, sign_in

from ally.web.apiclients.models import ApiClient
from ally.web.auditlog.models import AuditEntry

URL = "/o/north/api-clients/"


def _admin(practice: Practice) -> Client:
    browser = Client()
    sign_in(browser, practice.admin.user)
    return browser


def test_an_administrator_registers_a_client_and_sees_its_secret_once(
    practice: Practice,
) -> None:
    browser = _admin(practice)
    assert browser.get(URL).status_code == 200
    reply = browser.post(
        URL,
        {
            "name": "Records bridge",
            "scopes": ["episodes:read", "responses:write"],
            "reach": "caseload",
            "clinician": practice.clinician.pk,
        },
    )
    assert reply.status_code == 200
    client = ApiClient.objects.get()
    secret = reply.context["registered"].client_secret
    page = reply.content.decode()
    assert secret in page
    assert "no-store" in reply["Cache-Control"]
    assert (client.organisation, client.reach, client.clinician) == (
        practice.org,
        "caseload",
        practice.clinician,
    )
    assert client.scopes == "episodes:read responses:write"
    assert secret not in browser.get(URL).content.decode(), "shown once"
    assert secret not in database_text()
    registered = AuditEntry.objects.get(action="api_client.registered")
    assert (registered.actor_id, registered.target_id) == (practice.admin.pk, str(client.pk))


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"name": " ", "scopes": ["episodes:read"], "reach": "practice"}, "name"),
        ({"name": "X", "reach": "practice"}, "scopes"),
        ({"name": "X", "scopes": ["episodes:read"], "reach": "caseload"}, "clinician"),
    ],
)
def test_an_incomplete_registration_is_refused_saying_what_is_missing(
    practice: Practice, form: dict[str, object], field: str
) -> None:
    reply = _admin(practice).post(URL, form)
    assert reply.status_code == 400
    assert reply.context["form"].errors[field]
    assert not ApiClient.objects.exists()


def test_a_researcher_cannot_hold_a_caseload_for_a_client(practice: Practice) -> None:
    reply = _admin(practice).post(
        URL,
        {
            "name": "X",
            "scopes": ["episodes:read"],
            "reach": "caseload",
            "clinician": practice.researcher.pk,
        },
    )
    assert reply.status_code == 400
    assert not ApiClient.objects.exists()


def test_revoking_a_client_ends_its_tokens(practice: Practice) -> None:
    from api_tokens import register, token_for

    registered = register(practice.admin, ["episodes:read"])
    token_for(registered)
    browser = _admin(practice)
    reply = browser.post(f"{URL}{registered.client.pk}/revoke/")
    assert reply.status_code == 302
    client = ApiClient.objects.get()
    assert (client.revoked_by, client.application) == (practice.admin, None)
    assert not AccessToken.objects.exists()
    assert "revoked on" in browser.get(URL).content.decode()


@pytest.mark.parametrize("role", ["supervisor", "clinician", "researcher"])
def test_only_administrators_reach_the_page(practice: Practice, role: str) -> None:
    browser = Client()
    sign_in(browser, getattr(practice, role).user)
    assert browser.get(URL).status_code == 403


def test_another_practices_client_cannot_be_revoked(practice: Practice) -> None:
    from api_tokens import register
    from web_practice import member

    from ally.web.scoping import Role

    south_admin = member(practice.outsider.organisation, Role.ADMIN, "adm")
    theirs = register(south_admin, ["episodes:read"])
    assert _admin(practice).post(f"{URL}{theirs.client.pk}/revoke/").status_code == 404
    assert ApiClient.objects.get().revoked_at is None
