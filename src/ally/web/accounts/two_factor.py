"""The second factor: an authenticator app (TOTP, RFC 6238) and ten single-use recovery codes.

Signing in has two steps. The password step (`begin`) does not sign the member in: it keeps
who passed it in the session for a few minutes ("pending"). The code step verifies a code
from the app or a recovery code, and only then signs the member in (`finish`), so that every
signed-in session has a verified second factor. A member without an authenticator sets one
up at the code step (the setup page). `TwoFactorMiddleware` refuses every staff page and API
call to a session that is pending, and signs out a session whose factor has gone (reset by
an administrator).
"""

from __future__ import annotations

import hmac
import secrets
import time
from base64 import b32encode
from collections.abc import Callable
from functools import cache
from typing import Any

import segno
from django.contrib.auth import login
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django_otp import login as otp_login  # type: ignore[import-untyped]
from django_otp.models import Device  # type: ignore[import-untyped]

from ally.web.accounts import sessions
from ally.web.accounts.models import (
    RECOVERY_SALT_BYTES,
    RecoveryCode,
    RecoveryCodes,
    SealedTOTPDevice,
    User,
    recovery_digest,
)

PENDING = "ally_pending"
PENDING_MINUTES = 10
"""How long a passed password waits for its code."""
ENROLLING = "ally_enrolling_device"
RECOVERY_CODES_SHOWN = "ally_recovery_codes"
TOTP_DIGITS = 6
RECOVERY_CODES = 10
RECOVERY_CODE_LENGTH = 10
"""Base32 characters: 50 random bits, beyond guessing with five tries before the lockout."""
AUTHENTICATOR_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"


# The pending sign-in ------------------------------------------------------------------------


def begin(request: HttpRequest, user: User, next_url: str) -> None:
    """The password was right: keep `user` pending in a session with a new key."""
    # A new key now as well as at `finish`: a session key planted before the password step
    # must not carry the pending state.
    request.session.cycle_key()
    request.session[PENDING] = {
        "user": user.pk,
        "backend": getattr(user, "backend", "django.contrib.auth.backends.ModelBackend"),
        "at": time.time(),
        "next": next_url,
    }


def _fresh_pending(session: Any) -> dict[str, Any] | None:
    pending = session.get(PENDING)
    if not pending or time.time() - float(pending.get("at", 0)) > PENDING_MINUTES * 60:
        return None
    return dict(pending)


def pending_user(request: HttpRequest) -> User | None:
    """The user who passed the password step in this session, while the step is fresh."""
    pending = _fresh_pending(request.session)
    if pending is None:
        return None
    return User.objects.filter(pk=pending.get("user"), is_active=True).first()


def drop_pending(request: HttpRequest) -> None:
    request.session.pop(PENDING, None)
    request.session.pop(ENROLLING, None)


def finish(request: HttpRequest, user: User, device: Device) -> str:
    """Sign `user` in with `device` verified; returns where they were going."""
    from ally.web.actions.accounts import record_account_event

    pending = request.session.get(PENDING) or {}
    next_url = str(pending.get("next") or reverse("home"))
    # Django's login gives the session a new key (ASVS 7.2.4), keeping its data.
    login(request, user, backend=pending.get("backend"))
    otp_login(request, device)
    now = time.time()
    sessions.start(request.session, device, now)
    sessions.register(request, now)
    drop_pending(request)
    record_account_event("login.succeeded", user, by_self=True)
    return next_url


# Codes ------------------------------------------------------------------------------------------


def _normalised(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def verify_code(user: User, code: str) -> Device | None:
    """The device that accepts `code`: a TOTP code of the app or an unused recovery code.

    A TOTP code is accepted once (django-otp keeps the last time step used); a recovery code is
    deleted when used.
    """
    code = _normalised(code)
    if not code:
        return None
    # Locked rows: two requests with the same code cannot both use it.
    model = SealedTOTPDevice if len(code) == TOTP_DIGITS and code.isdigit() else RecoveryCodes
    with transaction.atomic():
        for device in model.objects.devices_for_user(user, confirmed=True).select_for_update():
            if device.verify_token(code):
                return device
    return None


def has_authenticator(user: User) -> bool:
    return SealedTOTPDevice.objects.filter(user=user, confirmed=True).exists()


def has_second_factor(user: User) -> bool:
    """Whether the code step can sign `user` in; if not, they set up an authenticator first."""
    return (
        has_authenticator(user)
        or RecoveryCode.objects.filter(device__user=user, device__confirmed=True).exists()
    )


def recovery_codes_left(user: User) -> int:
    return RecoveryCode.objects.filter(device__user=user, device__confirmed=True).count()


def _random_code() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    return "".join(secrets.choice(alphabet) for _ in range(RECOVERY_CODE_LENGTH))


def new_setup_code(user: User) -> str:
    """A one-time code for setting up a new authenticator after an administrator's reset (ASVS
    6.4.4): the administrator hands it to the member once they know it is them, so a password
    alone no longer enrols an app. Only its salted hash is kept."""
    code = _random_code()
    salt = secrets.token_bytes(RECOVERY_SALT_BYTES)
    user.setup_code = f"{salt.hex()}${recovery_digest(code, salt)}"
    user.save(update_fields=["setup_code"])
    return f"{code[:5]}-{code[5:]}"


def setup_code_fits(user: User, code: str) -> bool:
    salt, _, digest = user.setup_code.partition("$")
    if not salt or not digest:
        return False
    return hmac.compare_digest(recovery_digest(_normalised(code), bytes.fromhex(salt)), digest)


def new_recovery_codes(user: User) -> list[str]:
    """Replace the user's recovery codes with ten new ones; returns them to show once.

    The device stays (a session verified with a recovery code stays verified); its codes go.
    Only their salted hashes are stored (`RecoveryCode`): the member sees them this once.
    """
    device = RecoveryCodes.objects.filter(user=user, confirmed=True).order_by("pk").first()
    if device is None:
        device = RecoveryCodes.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    RecoveryCodes.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.codes.all().delete()
    codes = [_random_code() for _ in range(RECOVERY_CODES)]
    RecoveryCode.objects.bulk_create(RecoveryCode.hashed(device, code) for code in codes)
    return [f"{code[:5]}-{code[5:]}" for code in codes]


# Setting up an authenticator app ---------------------------------------------------------------


def enrolling_device(request: HttpRequest, user: User) -> SealedTOTPDevice:
    """The unconfirmed authenticator this session is setting up; a new one on first call.

    Bound to the session, never shared: someone else who knows the password and starts a setup
    elsewhere gets another secret.
    """
    device = SealedTOTPDevice.objects.filter(
        pk=request.session.get(ENROLLING), user=user, confirmed=False
    ).first()
    if device is None:
        device = SealedTOTPDevice.objects.create(
            user=user, name=AUTHENTICATOR_NAME, confirmed=False
        )
        request.session[ENROLLING] = device.pk
    return device


def secret_text(device: SealedTOTPDevice) -> str:
    """The secret as an app asks to have it typed: base32, in groups of four."""
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def qr_svg(device: SealedTOTPDevice) -> str:
    """The otpauth:// address as an inline SVG QR code, for the app's camera.

    Not respond.links.qr_svg: that one is titled as a client's link.
    """
    title = _("QR code to scan with your authenticator app")
    return str(segno.make(device.config_url, error="m").svg_inline(scale=4, title=title))


# The rule on every request ----------------------------------------------------------------------


@cache
def _open_prefixes() -> tuple[str, ...]:
    """Where a pending session may go: the sign-in steps, the language switch."""
    return (
        reverse("login"),
        reverse("logout"),
        reverse("two_factor"),
        reverse("two_factor_setup"),
        reverse("set_language"),
    )


class TwoFactorMiddleware:
    """No staff page or API call without a verified second factor (ASVS 6.3.3)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if sessions.is_client_side(path):
            return self.get_response(request)
        user: Any = request.user
        if user.is_authenticated and not user.is_verified():
            # Signed in, but the device that verified the session is gone: an administrator
            # reset the second factor (or the session predates it). Sign in again, fully.
            sessions.sign_out(request, "session.second_factor_gone")
            return sessions.refuse(request, sessions.why_signed_out("second_factor_gone"))
        if (
            not user.is_authenticated
            and _fresh_pending(request.session) is not None
            and not path.startswith(_open_prefixes())
        ):
            message = _(
                "Finish signing in first: enter the code from your authenticator app, or one of "
                "your recovery codes."
            )
            return sessions.refuse(request, message, to=reverse("two_factor"))
        return self.get_response(request)
