"""API clients for the web tests: register one and get a token as a program would."""

from __future__ import annotations

import base64

from django.test import Client

from ally.web.actions.apiclients import Registered, do_register_api_client
from ally.web.practice.models import Membership


def register(
    admin: Membership,
    scopes: list[str],
    reach: str = "practice",
    clinician: Membership | None = None,
    name: str = "Records bridge",
) -> Registered:
    return do_register_api_client(admin, name=name, scopes=scopes, reach=reach, clinician=clinician)


def token_reply(registered: Registered, scope: str | None = None) -> object:
    """The token endpoint's reply to the client's credentials (HTTP Basic, RFC 6749 §2.3.1)."""
    pair = f"{registered.client_id}:{registered.client_secret}".encode()
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    return Client().post(
        "/oauth/token/",
        data,
        headers={"Authorization": "Basic " + base64.b64encode(pair).decode()},
    )


def token_for(registered: Registered, scope: str | None = None) -> str:
    reply = token_reply(registered, scope)
    assert reply.status_code == 200, reply.content  # type: ignore[attr-defined]
    return str(reply.json()["access_token"])  # type: ignore[attr-defined]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
