"""Who is asking: the one function FHIR views call to learn the acting principal.

A principal is either an API client calling with a token (`Authorization: Bearer ...`, checked
by the JSON API's own `OAuth2ClientCredentials`: known, not expired, its client active, narrowed
to the token's scopes) or a signed-in member (Django's session, second factor verified by the
middleware) with the CSRF token on every write, as for the JSON API. A token needs the scope
fhir:read to read and responses:write to post a QuestionnaireResponse; it reaches what its
client reaches (its practice, or one clinician's caseload), and its calls are audited under the
client's name. A user who belongs to several practices acts in each with that practice's
membership: every row is looked up with the caller of its own organisation (`find`), so scoping
is the screens' (scoping.py), and another practice's row, or one beyond a token's reach, is a
404 as everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.http import Http404, HttpRequest
from django.middleware.csrf import CsrfViewMiddleware

from ally.web.api.auth import TOKEN_URL, bearer_auth
from ally.web.apiclients.models import ApiClient
from ally.web.fhir.outcome import FhirRefusalError
from ally.web.practice.models import Membership
from ally.web.scoping import Capability, can, get_scoped_or_404, refusal, scoped

Caller = Membership | ApiClient

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: one membership per organisation, or one API client."""

    callers: tuple[Caller, ...]

    def __iter__(self) -> Iterator[Caller]:
        return iter(self.callers)


def _csrf_refusal(request: HttpRequest) -> str | None:
    """Django's CSRF check, as ninja's session auth runs it: None when the token is right."""
    check = CsrfViewMiddleware(lambda request: None)
    check.process_request(request)
    refused = check.process_view(request, lambda request: None, (), {})
    return None if refused is None else "the CSRF token is missing or wrong"


def _token_principal(request: HttpRequest) -> Principal:
    """The API client of the request's bearer token, if it may do what the method asks."""
    client = bearer_auth(request)
    if not isinstance(client, ApiClient):
        raise FhirRefusalError.one(
            401,
            "The token is not valid: unknown, expired, or its client was revoked. Ask for a new "
            f"one at {TOKEN_URL} with the client's id and secret.",
            "login",
        )
    needs = Capability.RECORD_ANSWERS if request.method in UNSAFE_METHODS else Capability.READ_FHIR
    if not can(client, needs):
        raise FhirRefusalError.one(403, refusal(client, needs), "forbidden")
    return Principal((client,))


def _sends_token(request: HttpRequest) -> bool:
    scheme, _, _ = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer"


def acting_principal(request: HttpRequest) -> Principal:
    """The principal of the request, or a 401 OperationOutcome (403 for a bad CSRF token or a
    token without the scope)."""
    if _sends_token(request):
        # A request that sends a token is judged by it alone, cookie or not.
        return _token_principal(request)
    user: Any = request.user
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        raise FhirRefusalError.one(
            401,
            "Sign in first, or send an API client's token (Authorization: Bearer ...): Ally's "
            "FHIR endpoints serve members of a practice and its registered programs.",
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
) -> tuple[Any, Caller]:
    """The row `lookup` names, found with the caller of its organisation, or a 404
    OperationOutcome (also for another practice's row, or one outside a caseload). A membership
    is kept on the request, so the read is audited under it (a token's client already is)."""
    for caller in principal:
        try:
            found = get_scoped_or_404(rows, caller, **lookup)
        except Http404:
            continue
        if isinstance(caller, Membership):
            request.membership = caller
        return found, caller
    ident = next(iter(lookup.values()), "")
    raise FhirRefusalError.one(404, NOT_FOUND.format(kind=kind, id=ident), "not-found")


def visible(principal: Principal, rows: Any, query: Callable[[Any], Any]) -> Iterator[Any]:
    """Every row of `rows` that any of the principal's callers may see, filtered by `query`."""
    for caller in principal:
        yield from query(scoped(rows, caller))
