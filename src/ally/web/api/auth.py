"""Who calls the API: a signed-in member of the organisation named in the path, or an API client
of that organisation with a token.

Two ways in, tried in this order on every operation (`API_AUTH`):

- A token (`Authorization: Bearer ...`) from django-oauth-toolkit's token endpoint, got with an
  API client's credentials (OAuth 2.0 client credentials, RFC 6749 §4.4). No cookie is involved,
  so no CSRF token is asked for. The caller is the `ApiClient`, narrowed to the token's scopes.
- Django's session (ninja's `SessionAuth`), so the screens' scripts and a signed-in member's
  tools use the API as they use the pages; it checks the CSRF token on every POST.

The organisation comes from the path: a member without an active membership there, or a client
of another organisation, is a 404, found before anything else of the request is read, so that a
caller who does not belong learns nothing from how their body or query is refused. Each
operation then says what it needs with `member(request, org, needs=...)` (reading by default),
answered by `scoping`'s one table for roles and scopes alike: a new operation picks up both
ways in, and their limits, by calling it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from django.http import Http404, HttpRequest
from ninja import Path
from ninja.security import HttpBearer
from ninja.security import SessionAuth as NinjaSessionAuth
from ninja.security.base import SecuritySchema
from oauth2_provider.oauth2_backends import get_oauthlib_core

from ally.web.apiclients.models import ApiClient
from ally.web.apiclients.oauth import client_of
from ally.web.practice.models import Membership
from ally.web.scoping import ApiScope, Capability, check_can, membership_or_404

TOKEN_URL = "/oauth/token/"
"""django-oauth-toolkit's token endpoint (urls.py)."""

ORG_PATTERN = r"^[-a-zA-Z0-9_]+$"
ORG_MAX_LENGTH = 60


class SessionAuth(NinjaSessionAuth):
    """Django's session cookie, with the CSRF check on unsafe methods, and the caller's
    membership of the organisation in the path.

    Ninja authenticates before it parses the path, query and body, so the membership is checked
    before any of them: a signed-in non-member gets a 404 whatever their query or body. (The class
    keeps ninja's name: it names the cookie scheme in the OpenAPI spec.)
    """

    def __call__(self, request: HttpRequest) -> Any:
        if getattr(request, "bearer_refused", False):
            # A request that sent a token is judged by it alone: a refused token is a 401 the
            # program can act on (ask for a new one), not a cookie's CSRF refusal.
            return None
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = super().authenticate(request, key)
        if user is None:
            return None
        org = _path_org(request)
        if org is None:
            return user
        return member(request, org)


def _path_org(request: HttpRequest) -> str | None:
    """The organisation named in the path, when it may name one."""
    match = request.resolver_match
    if match is None or "org" not in match.kwargs:
        return None
    org = str(match.kwargs["org"])
    if len(org) > ORG_MAX_LENGTH or not re.fullmatch(ORG_PATTERN, org):
        # No organisation has such a name: `Org` refuses it (422) before any query, so no
        # NUL byte reaches PostgreSQL, and the refusal says nothing about memberships.
        return None
    return org


class OAuth2ClientCredentials(HttpBearer):
    """A token from the token endpoint, for an API client of the organisation in the path.

    django-oauth-toolkit checks the token (known, not expired, its client not revoked); the
    caller is the client, narrowed to the token's scopes and kept as ``request.api_client``.
    A client of another organisation is a 404. The spec names the scheme as OAuth 2.0 client
    credentials with its token URL and scopes, which is what generated clients read.
    """

    def __init__(self) -> None:
        super().__init__()
        self.openapi_security_schema = SecuritySchema(
            "oauth2",
            description=(
                "OAuth 2.0 client credentials (RFC 6749 §4.4): an administrator of the practice "
                "registers an API client on its API clients page and gets its id and secret "
                f"once; POST them to {TOKEN_URL} (grant_type=client_credentials) for a token, "
                "and send it as `Authorization: Bearer <token>`. Tokens expire (an hour by "
                "default); ask for a new one then. A client reaches its practice or one "
                "clinician's caseload, and never sees clients' names or contact details."
            ),
            flows={
                "clientCredentials": {
                    "tokenUrl": TOKEN_URL,
                    "scopes": {str(scope): str(label) for scope, label in ApiScope.choices},
                }
            },
        )

    def authenticate(self, request: HttpRequest, token: str) -> ApiClient | None:
        valid, checked = get_oauthlib_core().verify_request(request, scopes=[])
        if not valid:
            request.bearer_refused = True
            return None
        client = client_of(checked.access_token.application)
        if client is None:
            request.bearer_refused = True
            return None
        client.grant(checked.access_token.scope)
        request.api_client = client
        org = _path_org(request)
        if org is not None and client.organisation.slug != org:
            raise Http404("Not found.")
        return client


bearer_auth = OAuth2ClientCredentials()
session_auth = SessionAuth()
API_AUTH = [bearer_auth, session_auth]
"""Every operation's authentication (the API's default): a token first, then the session."""


Org = Annotated[
    str,
    Path(
        pattern=ORG_PATTERN,
        max_length=ORG_MAX_LENGTH,
        description="The organisation's short name, as in the address of its pages (/o/<org>/).",
    ),
]
"""The organisation in an operation's path: a slug, so a control character or a NUL byte is
refused before it reaches a query (PostgreSQL cannot compare text holding NUL)."""


def member(
    request: HttpRequest, org: str, needs: Capability = Capability.READ_EPISODES
) -> Membership | ApiClient:
    """The caller in `org`: the token's API client or the member's active membership (Http404
    when neither belongs there), if it may do `needs` (PermissionDenied, a 403 saying which
    scope or role is missing, otherwise). Kept on the request for the audit."""
    client = getattr(request, "api_client", None)
    if isinstance(client, ApiClient):
        if client.organisation.slug != org:
            raise Http404("Not found.")
        check_can(client, needs)
        return client
    found = getattr(request, "membership", None)
    if isinstance(found, Membership) and found.organisation.slug == org:
        # Found by `SessionAuth` for this request's path.
        membership = found
    else:
        membership = membership_or_404(request.user, org)
        request.membership = membership
    check_can(membership, needs)
    return membership
