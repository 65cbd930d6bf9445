"""Members' sessions: when they start, how long they last, how they end and what the page says.

A session starts when the second factor is verified (`start`). It ends after
ALLY_SESSION_IDLE_MINUTES without a request and ALLY_SESSION_MAX_HOURS after it started,
whatever the member does (ASVS 7.3.1, 7.3.2); the next page says why. Each signed-in browser is
a `SignedInSession` row, which the member's account page lists and can end one by one (ASVS
7.5.2); a practice's administrator signs a member out of that practice only (`PracticeSignOut`).
A client's visit (/a/)
is no member's session: it keeps its own limit (respond.visit), and nothing here touches it,
even on a device where a member is signed in.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from functools import cache
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.core.validators import slug_re
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import resolve_url
from django.urls import reverse
from django.utils.translation import gettext as _
from django_otp import DEVICE_ID_SESSION_KEY  # type: ignore[import-untyped]

SIGNED_IN_AT = "ally_signed_in_at"
SEEN_AT = "ally_seen_at"
DEVICE_ROW = "ally_signed_in_session"
"""The session's SignedInSession key."""
SEEN_EVERY = 60
"""Seconds between writes of the last-seen time: the idle limit is exact to a minute, and a
member's page views do not each write the session."""
GRACE = 3600
"""The cookie outlives the session by an hour, so that the next page can still say why it
ended."""


def start(session: Any, device: Any, now: float) -> None:
    """Mark `session` as signed in with `device` as the second factor, from `now` (Unix time).

    The caller has signed the user in with Django's `login` (which gives the session a new key).
    """
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session[SIGNED_IN_AT] = now
    session[SEEN_AT] = now
    # A date, not a number of seconds: Django would count seconds from each save.
    ends = now + settings.ALLY_SESSION_MAX_HOURS * 3600 + GRACE
    session.set_expiry(dt.datetime.fromtimestamp(ends, tz=dt.UTC))


def ended(session: Any, now: float) -> str | None:
    """Why a signed-in session is over ("expired", "idle", "unstarted"), or None while it lasts.

    A session without its start time was not started by Ally's sign-in: it is over too.
    """
    signed_in_at = session.get(SIGNED_IN_AT)
    seen_at = session.get(SEEN_AT)
    if signed_in_at is None or seen_at is None:
        return "unstarted"
    if now - float(signed_in_at) > settings.ALLY_SESSION_MAX_HOURS * 3600:
        return "expired"
    if now - float(seen_at) > settings.ALLY_SESSION_IDLE_MINUTES * 60:
        return "idle"
    return None


def touch(session: Any, now: float) -> bool:
    """Note the member's activity (once a minute); whether it was noted now."""
    if now - float(session.get(SEEN_AT) or 0) >= SEEN_EVERY:
        session[SEEN_AT] = now
        return True
    return False


# Signed-in devices ------------------------------------------------------------------------------

BROWSERS = (
    ("Edge", r"Edg/"),
    ("Firefox", r"Firefox/"),
    ("Chrome", r"Chrome/"),
    ("Safari", r"Safari/"),
)
SYSTEMS = (
    ("Android", r"Android"),
    ("iOS", r"iPhone|iPad"),
    ("Windows", r"Windows"),
    ("macOS", r"Mac OS X"),
    ("Linux", r"Linux"),
)


def device_name(user_agent: str) -> str:
    """A browser's short name for the list of devices, e.g. "Firefox on Linux"; the raw
    User-Agent is not kept."""
    browser = next((name for name, pattern in BROWSERS if re.search(pattern, user_agent)), "")
    system = next((name for name, pattern in SYSTEMS if re.search(pattern, user_agent)), "")
    if browser and system:
        return _("%(browser)s on %(system)s") % {"browser": browser, "system": system}
    return browser or system or _("Unknown browser")


def register(request: HttpRequest, started: float | None = None) -> Any:
    """The SignedInSession of this signed-in request, made now if the session has none yet (a
    sign-in, or a session from before devices were listed)."""
    from django.utils import timezone

    from ally.web.accounts.models import SignedInSession
    from ally.web.audit import client_ip

    if not request.session.session_key:
        request.session.save()
    at = dt.datetime.fromtimestamp(
        started or float(request.session.get(SIGNED_IN_AT) or time.time()), tz=dt.UTC
    )
    row = SignedInSession.objects.create(
        user=request.user,
        session_key=request.session.session_key or "",
        signed_in_at=at,
        last_seen_at=timezone.now(),
        device=device_name(request.META.get("HTTP_USER_AGENT", ""))[:80],
        ip=client_ip(request)[:45],
    )
    request.session[DEVICE_ROW] = row.pk
    return row


def _this_device(request: HttpRequest, noted: bool) -> bool:
    """Keep this session's row up to date; False when the row is gone (the member ended this
    device from another, or an administrator ended it)."""
    from django.utils import timezone

    from ally.web.accounts.models import SignedInSession

    pk = request.session.get(DEVICE_ROW)
    if pk is None:
        register(request)
        return True
    row = SignedInSession.objects.filter(pk=pk, user=request.user).first()
    if row is None:
        return False
    changed = {}
    if row.session_key != request.session.session_key:
        changed["session_key"] = request.session.session_key or ""  # a new key after a change
    if noted:
        changed["last_seen_at"] = timezone.now()
    if changed:
        SignedInSession.objects.filter(pk=pk).update(**changed)
    return True


def end_device(row: Any) -> None:
    """End the session of one SignedInSession row, wherever that browser is."""
    from importlib import import_module

    store = import_module(settings.SESSION_ENGINE).SessionStore
    store(session_key=row.session_key).delete()
    row.delete()


def signed_out_of_practice(request: HttpRequest, org: str) -> bool:
    """Whether a practice's administrator signed this member out of `org` after this session
    started (`PracticeSignOut`)."""
    from ally.web.accounts.models import PracticeSignOut

    if not slug_re.match(org):
        # No practice has such a name (its slug is a SlugField): nothing to look up, and no NUL
        # byte or other stray character reaches the database.
        return False
    started = float(request.session.get(SIGNED_IN_AT) or 0)
    out = PracticeSignOut.objects.filter(user=request.user, organisation__slug=org).values_list(
        "signed_out_at", flat=True
    )
    return any(at.timestamp() >= started for at in out)


def why_signed_out(reason: str) -> str:
    """What the sign-in page says after a session ended for `reason`."""
    if reason == "ended":
        return _("This device was signed out from your account page. Sign in again to continue.")
    if reason == "practice":
        return _(
            "An administrator of this practice signed you out of it. Sign in again to continue."
        )
    if reason == "idle":
        return _(
            "You were signed out after %(minutes)d minutes without activity, to protect your "
            "clients' data. Sign in again to continue."
        ) % {"minutes": settings.ALLY_SESSION_IDLE_MINUTES}
    if reason == "expired":
        return _(
            "You were signed out because you signed in more than %(hours)d hours ago. Sign in "
            "again to continue."
        ) % {"hours": settings.ALLY_SESSION_MAX_HOURS}
    if reason == "second_factor_gone":
        return _(
            "Your second factor was reset or removed, so you were signed out. Sign in again and "
            "set up your authenticator app."
        )
    return _("Your session has ended. Sign in again to continue.")


# Where the rules apply ------------------------------------------------------------------------


@cache
def _client_side() -> str:
    return reverse("respond:answer")


def is_client_side(path: str) -> bool:
    """The client's pages (/a/): they run on the link's grant, never on a member's session."""
    return path.startswith(_client_side())


def is_api(path: str) -> bool:
    return path.startswith("/api/")


def is_fhir(path: str) -> bool:
    """The FHIR endpoints (/fhir/): programs, which want a FHIR answer, not a sign-in page."""
    return path.startswith("/fhir/")


# Refusing and ending ----------------------------------------------------------------------------


def refuse(request: HttpRequest, message: str, to: str | None = None) -> HttpResponse:
    """Send a page to `to` (the sign-in page by default) saying `message`; the API and FHIR
    answer 401.

    The API's answer has its one error shape (api.errors), FHIR's is an OperationOutcome. An htmx
    request gets HX-Redirect, so that the whole page moves instead of a fragment being replaced
    by the sign-in form.
    """
    if is_api(request.path_info):
        from ally.web.api.errors import error_body

        return JsonResponse(error_body(message), status=401)
    if is_fhir(request.path_info):
        from ally.web.fhir.outcome import FhirRefusalError, refusal_reply

        return refusal_reply(FhirRefusalError.one(401, message, "login"))
    messages.info(request, message)
    if to is None:
        # Back to the page after signing in again, if it is a page to come back to.
        if request.method == "GET" and not request.path_info.startswith("/accounts/"):
            to = redirect_to_login(request.get_full_path())["Location"]
        else:
            to = resolve_url(settings.LOGIN_URL)
    response = HttpResponse(status=302, headers={"Location": to})
    if request.headers.get("HX-Request"):
        return HttpResponse(status=204, headers={"HX-Redirect": to})
    return response


def sign_out(request: HttpRequest, action: str) -> None:
    """End the member's session, with an audit entry (e.g. "session.signed_out")."""
    from ally.web.accounts.models import SignedInSession
    from ally.web.actions.accounts import record_account_event

    user = request.user
    if user.is_authenticated:
        record_account_event(action, user, by_self=True)
        SignedInSession.objects.filter(pk=request.session.get(DEVICE_ROW), user=user).delete()
    logout(request)


def devices(user: Any) -> list[Any]:
    """The member's signed-in browsers whose sessions still last, the most recent first."""
    from django.contrib.sessions.models import Session as StoredSession
    from django.utils import timezone

    from ally.web.accounts.models import SignedInSession

    rows = list(SignedInSession.objects.filter(user=user).order_by("-last_seen_at"))
    live = set(
        StoredSession.objects.filter(
            session_key__in=[r.session_key for r in rows], expire_date__gt=timezone.now()
        ).values_list("session_key", flat=True)
    )
    return [row for row in rows if row.session_key in live]


class SessionTimeoutMiddleware:
    """Ends a member's session when it has been idle or open too long, and says why."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_client_side(request.path_info) and request.user.is_authenticated:
            now = time.time()
            reason = ended(request.session, now)
            if reason is None and not _this_device(request, touch(request.session, now)):
                reason = "ended"
            if reason is not None:
                sign_out(request, f"session.{reason}")
                return refuse(request, why_signed_out(reason))
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Any, args: Any, kwargs: dict[str, Any]
    ) -> HttpResponse | None:
        """A practice's page or API call, from a session its administrator signed out."""
        org = kwargs.get("org")
        if (
            isinstance(org, str)
            and request.user.is_authenticated
            and signed_out_of_practice(request, org)
        ):
            sign_out(request, "session.practice")
            return refuse(request, why_signed_out("practice"))
        return None


def purge_expired(now: dt.datetime | None = None) -> dict[str, int]:
    """Delete what has outlived its use: expired sessions (members' and clients' visits, with
    the answers a client saved for later) and failed sign-ins older than the lockout's cool-off.
    Returns the rows deleted by kind. Run by `ally manage purge_expired` (docs/deploy.md)."""
    from axes.models import AccessAttempt  # type: ignore[import-untyped]
    from django.contrib.sessions.models import Session as StoredSession
    from django.utils import timezone

    from ally.web.accounts.lockout import cool_off
    from ally.web.accounts.models import SignedInSession

    now = now or timezone.now()
    sessions, _ = StoredSession.objects.filter(expire_date__lte=now).delete()
    SignedInSession.objects.exclude(
        session_key__in=StoredSession.objects.values("session_key")
    ).delete()
    attempts, _ = AccessAttempt.objects.filter(attempt_time__lt=now - cool_off()).delete()
    return {"sessions": sessions, "failed_sign_ins": attempts}
