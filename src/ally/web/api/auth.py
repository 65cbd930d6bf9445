"""Who calls the API: a signed-in member of the organisation named in the path.

Authentication is Django's session (ninja's `SessionAuth`), so the screens' scripts and a
signed-in member's tools use the API as they use the pages; it checks the CSRF token on every
POST. The organisation comes from the path and the membership from `membership_or_404`: no
membership there, or an inactive one, is a 404, found before anything else of the request is
read, so that a caller who is no member learns nothing from how their body or query is refused.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Path
from ninja.security import SessionAuth as NinjaSessionAuth

from ally.web.practice.models import Membership
from ally.web.scoping import membership_or_404

ORG_PATTERN = r"^[-a-zA-Z0-9_]+$"
ORG_MAX_LENGTH = 60


class SessionAuth(NinjaSessionAuth):
    """Django's session cookie, with the CSRF check on unsafe methods, and the caller's
    membership of the organisation in the path.

    Ninja authenticates before it parses the path, query and body, so the membership is checked
    before any of them: a signed-in non-member gets a 404 whatever their query or body. (The class
    keeps ninja's name: it names the cookie scheme in the OpenAPI spec.)
    """

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = super().authenticate(request, key)
        if user is None:
            return None
        match = request.resolver_match
        if match is None or "org" not in match.kwargs:
            return user
        org = str(match.kwargs["org"])
        if len(org) > ORG_MAX_LENGTH or not re.fullmatch(ORG_PATTERN, org):
            # No organisation has such a name: `Org` refuses it (422) before any query, so no
            # NUL byte reaches PostgreSQL, and the refusal says nothing about memberships.
            return user
        return member(request, org)


session_auth = SessionAuth()
"""Every operation's authentication (the API's default)."""


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


def member(request: HttpRequest, org: str) -> Membership:
    """The caller's active membership of `org` (Http404 otherwise), kept on the request."""
    found = getattr(request, "membership", None)
    if isinstance(found, Membership) and found.organisation.slug == org:
        # Found by `SessionAuth` for this request's path.
        return found
    membership = membership_or_404(request.user, org)
    request.membership = membership
    return membership
