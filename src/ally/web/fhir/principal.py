"""Who is asking: the one function FHIR views call to learn the acting principal.

Today a principal is a signed-in member (Django's session, second factor verified by the
middleware) with the CSRF token on every write, as for the JSON API. An API client with an
OAuth token plugs in here: `acting_principal` returns its memberships and skips the CSRF check,
and nothing else in the views changes. A user who belongs to several practices acts in each
with that practice's membership: every row is looked up with the membership of its own
organisation (`find`), so scoping is the screens' (scoping.py), and another practice's row is a
404 as everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.http import Http404, HttpRequest
from django.middleware.csrf import CsrfViewMiddleware

from ally.web.fhir.outcome import FhirRefusalError
from ally.web.practice.models import Membership
from ally.web.scoping import get_scoped_or_404, scoped

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Principal:
    """The memberships a request acts with, one per organisation."""

    memberships: tuple[Membership, ...]

    def __iter__(self) -> Iterator[Membership]:
        return iter(self.memberships)


def _csrf_refusal(request: HttpRequest) -> str | None:
    """Django's CSRF check, as ninja's session auth runs it: None when the token is right."""
    check = CsrfViewMiddleware(lambda request: None)
    check.process_request(request)
    refused = check.process_view(request, lambda request: None, (), {})
    return None if refused is None else "the CSRF token is missing or wrong"


def acting_principal(request: HttpRequest) -> Principal:
    """The principal of the request, or a 401 OperationOutcome (403 for a bad CSRF token)."""
    user: Any = request.user
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        raise FhirRefusalError.one(
            401,
            "Sign in first: Ally's FHIR endpoints serve signed-in members of a practice.",
            "login",
        )
    if request.method in UNSAFE_METHODS:
        problem = _csrf_refusal(request)
        if problem is not None:
            raise FhirRefusalError.one(
                403,
                f"Refused: {problem}. Send the csrftoken cookie's value in the X-CSRFToken "
                "header, as for Ally's JSON API.",
                "security",
            )
    memberships = tuple(
        Membership.objects.select_related("organisation", "user")
        .filter(user=user, is_active=True)
        .order_by("pk")
    )
    if not memberships:
        raise FhirRefusalError.one(
            403, "You are not an active member of any practice.", "forbidden"
        )
    return Principal(memberships)


NOT_FOUND = "No {kind} with id {id} that you may see."


def find(
    request: HttpRequest, principal: Principal, rows: Any, kind: str, **lookup: Any
) -> tuple[Any, Membership]:
    """The row `lookup` names, found with the membership of its organisation, or a 404
    OperationOutcome (also for another practice's row, or one outside a clinician's caseload).
    The membership is kept on the request, so the read is audited under it."""
    for membership in principal:
        try:
            found = get_scoped_or_404(rows, membership, **lookup)
        except Http404:
            continue
        request.membership = membership
        return found, membership
    ident = next(iter(lookup.values()), "")
    raise FhirRefusalError.one(404, NOT_FOUND.format(kind=kind, id=ident), "not-found")


def visible(principal: Principal, rows: Any, query: Callable[[Any], Any]) -> Iterator[Any]:
    """Every row of `rows` that any of the principal's memberships may see, filtered by `query`."""
    for membership in principal:
        yield from query(scoped(rows, membership))
