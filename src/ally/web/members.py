"""The staff side's one door: every staff view runs as a member of the organisation in its URL.

`member_view` signs the user in first, finds their active membership of the organisation named by
the URL (another organisation's is a 404, never a 403), checks the role and sets
``request.membership`` before the view runs.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from ally.web.scoping import Role, membership_or_404
from ally.web.vocabulary import speak_as

View = Callable[..., HttpResponse]


def member_view(roles: Collection[Role] | None = None) -> Callable[[View], View]:
    """Wrap a view taking ``(request, org, ...)``; `roles` limits who may use it (None: all)."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, org: str, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            membership = membership_or_404(request.user, org)
            if roles is not None and Role(membership.role) not in roles:
                raise PermissionDenied("Your role does not give access to this page.")
            request.membership = membership
            speak_as(membership.organisation)
            return view(request, org, *args, **kwargs)

        return wrapped

    return decorate
