"""Lockout after repeated failures, by django-axes (ASVS 6.3.1).

Wrong passwords (counted by axes through Django's authenticate) and wrong codes at the code step
or at a re-authentication (`count_failure`) count together per account; at AXES_FAILURE_LIMIT
the account is locked until an administrator unlocks it on the members page (`unlock`). The
locked page says so. Sign-in failures and locks are audited here, from the signals.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from axes.handlers.proxy import AxesProxyHandler  # type: ignore[import-untyped]
from axes.models import AccessAttempt  # type: ignore[import-untyped]
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from ally.web.accounts.models import User


def failures(usernames: Iterable[str]) -> dict[str, int]:
    """Failed attempts counted against each username since its last sign-in or unlock."""
    rows = (
        AccessAttempt.objects.filter(username__in=list(usernames))
        .values("username")
        .annotate(total=Sum("failures_since_start"))
    )
    return {row["username"]: int(row["total"] or 0) for row in rows}


def is_locked(username: str) -> bool:
    """Axes's rule for the lockout parameter "username" without a cool-off: the failures of
    that username (from any address) reach the limit."""
    return failures([username]).get(username, 0) >= settings.AXES_FAILURE_LIMIT


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
    context = {"limit": settings.AXES_FAILURE_LIMIT}
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
