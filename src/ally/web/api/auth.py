"""Who calls the API: a signed-in member of the organisation named in the path.

Authentication is Django's session (ninja's `django_auth`), so the screens' scripts and a
signed-in member's tools use the API as they use the pages; it checks the CSRF token on every
POST. The organisation comes from the path and the membership from `membership_or_404`: no
membership there, or an inactive one, is a 404.
"""

from __future__ import annotations

from typing import Annotated

from django.http import HttpRequest
from ninja import Path
from ninja.security import django_auth

from ally.web.practice.models import Membership
from ally.web.scoping import membership_or_404

session_auth = django_auth
"""Django's session cookie, with the CSRF check on unsafe methods."""


Org = Annotated[
    str,
    Path(
        pattern=r"^[-a-zA-Z0-9_]+$",
        max_length=60,
        description="The organisation's short name, as in the address of its pages (/o/<org>/).",
    ),
]
"""The organisation in an operation's path: a slug, so a control character or a NUL byte is
refused (422) before it reaches a query (PostgreSQL cannot compare text holding NUL)."""


def member(request: HttpRequest, org: str) -> Membership:
    """The caller's active membership of `org` (Http404 otherwise), kept on the request."""
    membership = membership_or_404(request.user, org)
    request.membership = membership
    return membership
