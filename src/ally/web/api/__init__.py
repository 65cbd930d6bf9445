"""The JSON API under /api/, with its OpenAPI spec at /api/openapi.json and docs at /api/docs.

Every operation runs as a signed-in member of the organisation in its path (`/api/o/{org}/...`),
or as an API client of it with a token (see `auth`), scoped like the screens: researchers read,
the other roles also write, a client does what its scopes allow within its reach, and nothing
names a client (codes and numeric ids only). Errors have one shape (see `errors`), and no reply
is cached.

The operations' modules leave out `from __future__ import annotations`: ninja builds its request
models from their signatures' types when they are imported.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers
from ninja import NinjaAPI

from ally.web.api import (
    administrations,
    alerts,
    endings,
    episodes,
    errors,
    feedback,
    goals,
    groups,
    research,
    responses,
)
from ally.web.api.auth import API_AUTH, TOKEN_URL


class AllyAPI(NinjaAPI):
    """Ninja's API, with every reply (data or error) marked not to be stored by any cache."""

    def create_response(
        self,
        request: HttpRequest,
        data: Any,
        *,
        status: int | None = None,
        temporal_response: HttpResponse | None = None,
    ) -> HttpResponse:
        response = super().create_response(
            request, data, status=status, temporal_response=temporal_response
        )
        # Client data must not linger in a browser's or a proxy's cache.
        add_never_cache_headers(response)
        return response


api = AllyAPI(
    title="Ally API",
    version="1",
    description=(
        "Scoped by organisation and role, like every screen of Ally. A program calls it with a "
        f"token: POST an API client's id and secret to {TOKEN_URL} "
        "(grant_type=client_credentials) and send `Authorization: Bearer <token>`; the "
        "client's scopes decide what it may do (403 names the missing scope). A browser signs "
        "in at /accounts/ and sends the session cookie; every POST with the cookie also needs "
        "the CSRF token in the X-CSRFToken header. Request bodies are JSON objects sent as "
        "application/json, at most "
        f"{errors.MAX_BODY_BYTES // 1024} KiB (413 when larger, 415 when sent as another "
        "type). Clients appear by code and numeric id only. Every error is "
        '{"detail": "...", "errors": [{"item": 3, "loc": [...], "message": "..."}]}.'
    ),
    urls_namespace="api",
    auth=API_AUTH,
    parser=errors.JSONParser(),
)
errors.register(api)
for module in (
    episodes,
    feedback,
    administrations,
    responses,
    alerts,
    goals,
    endings,
    research,
    groups,
):
    api.add_router("", module.router)
