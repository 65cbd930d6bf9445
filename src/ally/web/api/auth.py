"""Who calls the API: a signed-in member of the organisation named in the path.

Authentication is Django's session (ninja's `django_auth`), so the screens' scripts and a
signed-in member's tools use the API as they use the pages; it checks the CSRF token on every
POST. The organisation comes from the path and the membership from `membership_or_404`: no
membership there, or an inactive one, is a 404.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import django_auth

from ally.web.practice.models import Membership
from ally.web.scoping import membership_or_404

session_auth = django_auth
"""Django's session cookie, with the CSRF check on unsafe methods."""


def member(request: HttpRequest, org: str) -> Membership:
    """The caller's active membership of `org` (Http404 otherwise), kept on the request."""
    membership = membership_or_404(request.user, org)
    request.membership = membership
    return membership
