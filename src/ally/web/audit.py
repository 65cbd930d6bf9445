"""The audit hooks: writes, reads, exports and sign-in events, each one entry in the chain.

`record` is called by every `do_*` action inside its transaction, so a change is never stored
without its entry. `AuditMiddleware` notes where each request comes from (the entry's `ip`) and
records every page or API answer a member read. Never pass answers, names or free text: entries
name rows by their keys.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

_request_ip: ContextVar[str] = ContextVar("ally_request_ip", default="")


def current_ip() -> str:
    """The address of the request being served ("" outside a request: a command, a job)."""
    return _request_ip.get()


def record(action: str, *, actor: Any, target: Any) -> None:
    """Audit `action` (e.g. "response.recorded") by `actor` (a Membership, an ApiClient calling
    with a token, or None) on `target`."""
    from ally.web.auditlog.chain import append

    append(action, actor=actor, target=target)


def record_event(
    action: str, *, actor: Any, organisation_id: int | None, target_type: str, target_id: str = ""
) -> None:
    """Audit an event that names no model row: a page read, an export, a sign-in."""
    from ally.web.auditlog.chain import append_event

    append_event(
        action,
        actor=actor,
        organisation_id=organisation_id,
        target_type=target_type,
        target_id=target_id,
    )


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or behind ALLY_PROXY_COUNT trusted proxies the address
    the nearest of them saw (X-Forwarded-For is only as trustworthy as the proxies appending it).
    Always an IP address in its usual spelling, "" without one, or "invalid": never the
    header's text."""
    from ally.web.auditlog.chain import address

    proxies = settings.ALLY_PROXY_COUNT
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [a for a in forwarded if a]
    if proxies and len(forwarded) >= proxies:
        return address(forwarded[-proxies][:100])
    return address(str(request.META.get("REMOTE_ADDR", ""))[:100])


READ_METHODS = frozenset({"GET", "HEAD"})


def _target_of(request: HttpRequest) -> tuple[str, str]:
    """The view's name and the key its URL names (the first argument besides the organisation)."""
    match = request.resolver_match
    if match is None:
        return "", ""
    keys = [str(value) for name, value in match.kwargs.items() if name != "org"]
    return match.view_name, keys[0] if keys else ""


class AuditMiddleware:
    """Notes each request's address for its entries, then audits what a member read.

    A read is a GET of a page or an API operation that ran as a member (`request.membership`,
    set by `member_view` and the API's `member`) or as an API client with a token
    (`request.api_client`, named by the entry instead of a person) and answered 200, unless the
    view recorded a more telling entry itself (an export sets `request.audit_recorded`). A failed
    audit write fails the request: a read that cannot be audited is not served.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _request_ip.set(client_ip(request))
        try:
            response = self.get_response(request)
            membership = getattr(request, "api_client", None) or getattr(
                request, "membership", None
            )
            if (
                membership is not None
                and not getattr(request, "audit_recorded", False)
                and request.method in READ_METHODS
                and response.status_code == 200
            ):
                view_name, key = _target_of(request)
                record_event(
                    "read",
                    actor=membership,
                    organisation_id=membership.organisation_id,
                    target_type=view_name,
                    target_id=key,
                )
            return response
        finally:
            _request_ip.reset(token)
