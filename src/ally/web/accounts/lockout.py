"""Lockout after repeated failures, by django-axes (ASVS 6.3.1).

Wrong passwords (counted by axes through Django's authenticate) and wrong codes at the code step
or at a re-authentication (`count_failure`) count together per account and address; at
AXES_FAILURE_LIMIT the account is locked from that address for AXES_COOLOFF_TIME after the last
failed try, or until an administrator unlocks it on the members page (`unlock`). The rules are
axes's own (settings `AXES_*`); this module asks axes, it does not count. The locked page says
how long the lock lasts. Sign-in failures and locks are audited here, from the signals.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from axes.handlers.proxy import AxesProxyHandler  # type: ignore[import-untyped]
from axes.models import AccessAttempt  # type: ignore[import-untyped]
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from ally.web.accounts.models import User
from ally.web.auditlog.chain import INVALID_ADDRESS


def client_address(request: HttpRequest) -> str | None:
    """The address axes counts failures from (AXES_CLIENT_IP_CALLABLE): the audit log's,
    an IP address read through ALLY_PROXY_COUNT trusted proxies only, or None."""
    from ally.web.audit import client_ip

    address = client_ip(request)
    return address if address and address != INVALID_ADDRESS else None


def cool_off() -> timedelta:
    """How long a lock lasts after the last failed try (AXES_COOLOFF_TIME)."""
    value: timedelta = settings.AXES_COOLOFF_TIME
    return value


def failures(usernames: Iterable[str], *, now: Any = None) -> dict[str, int]:
    """For each username, the most failed tries from one address within the cool-off: what
    axes compares with the limit (AXES_LOCKOUT_PARAMETERS is username and address together)."""
    since = (now or timezone.now()) - cool_off()
    rows = (
        AccessAttempt.objects.filter(username__in=list(usernames), attempt_time__gte=since)
        .values("username", "ip_address")
        .annotate(total=Sum("failures_since_start"))
    )
    most: dict[str, int] = {}
    for row in rows:
        most[row["username"]] = max(most.get(row["username"], 0), int(row["total"] or 0))
    return most


def is_locked_anywhere(username: str) -> bool:
    """Whether `username` is locked from at least one address (the members page's "Locked")."""
    return failures([username]).get(username, 0) >= settings.AXES_FAILURE_LIMIT


def is_locked(request: HttpRequest, username: str) -> bool:
    """Whether axes refuses `username` from this request's address now."""
    return bool(AxesProxyHandler.is_locked(request, {settings.AXES_USERNAME_FORM_FIELD: username}))


def count_failure(request: HttpRequest, user: User) -> bool:
    """Count a wrong code (or password at a re-authentication) for `user`, as axes counts a
    wrong password; returns whether the account is now locked."""
    user_login_failed.send(
        sender=__name__, credentials={"username": user.get_username()}, request=request
    )
    return bool(getattr(request, "axes_locked_out", False))


def unlock(user: User) -> int:
    """Forget the account's failures (axes's reset for the username); returns how many rows."""
    return int(AxesProxyHandler.reset_attempts(username=user.get_username()))


def locked_out(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> HttpResponse:
    """The locked page (axes's AXES_LOCKOUT_CALLABLE, and the code steps' own answer)."""
    from ally.web.accounts.two_factor import drop_pending

    drop_pending(request)
    context = {
        "limit": settings.AXES_FAILURE_LIMIT,
        "minutes": math.ceil(cool_off().total_seconds() / 60),
    }
    return render(request, "accounts/locked.html", context, status=403)


# Audit ------------------------------------------------------------------------------------------


def audit_failure(sender: Any, credentials: dict[str, Any], request: Any = None, **_: Any) -> None:
    """A failed sign-in: an entry for each organisation of the account, if the account exists.

    For an unknown address the entry names no one: what was typed might be a password.
    """
    from ally.web.actions.accounts import record_account_event
    from ally.web.audit import record_event

    user = User.objects.filter(email=str(credentials.get("username") or "")).first()
    if user is None:
        record_event("login.failed", actor=None, organisation_id=None, target_type="accounts.User")
    else:
        record_account_event("login.failed", user, by_self=False)


def audit_lock(sender: Any, request: Any, username: str, **_: Any) -> None:
    """The failure that locked the account (axes signals every later failure too)."""
    from ally.web.actions.accounts import record_account_event

    if getattr(request, "axes_failures_since_start", None) != settings.AXES_FAILURE_LIMIT:
        return
    user = User.objects.filter(email=username).first()
    if user is not None:
        record_account_event("account.locked", user, by_self=False)
