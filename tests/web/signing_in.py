"""Signing staff in on a test client: at once (`sign_in`), or step by step as a person does."""

from __future__ import annotations

import time
from typing import Any

PASSWORD = "pw"
"""The password of web_practice's members."""


def sign_in(browser: Any, user: Any) -> None:
    """Sign `user` in on a test client, as the sign-in page would leave them: password and
    second factor verified (with an authenticator made for them if they have none), the
    session started now."""
    from django.utils import timezone

    from ally.web.accounts import sessions
    from ally.web.accounts.models import SignedInSession

    browser.force_login(user)
    session = browser.session
    sessions.start(session, authenticator(user), time.time())
    row = SignedInSession.objects.create(
        user=user,
        session_key=session.session_key,
        signed_in_at=timezone.now(),
        last_seen_at=timezone.now(),
        device="Test client",
    )
    session[sessions.DEVICE_ROW] = row.pk
    session.save()


def authenticator(user: Any) -> Any:
    """The user's confirmed authenticator app (a TOTP device, its secret sealed as Ally keeps
    it), made if they have none."""
    from ally.web.accounts.models import SealedTOTPDevice

    device = SealedTOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = SealedTOTPDevice.objects.create(
            user=user, name="Authenticator app", confirmed=True
        )
    return device


def code_of(device: Any, steps_ahead: int = 0) -> str:
    """The code the app shows now, or `steps_ahead` 30-second steps later (each code is taken
    once, and the next step's code is accepted already: RFC 6238's one step of tolerance)."""
    from django_otp.oath import TOTP

    from ally.web.accounts.models import SealedTOTPDevice

    device = SealedTOTPDevice.objects.get(pk=device.pk)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def password_step(browser: Any, email: str, password: str = PASSWORD, **extra: str) -> Any:
    """The first step of signing in: the email address and the password."""
    return browser.post("/accounts/login/", {"username": email, "password": password, **extra})


def code_step(browser: Any, code: str) -> Any:
    """The second step: a code from the app, or a recovery code."""
    return browser.post("/accounts/two-factor/", {"code": code})
