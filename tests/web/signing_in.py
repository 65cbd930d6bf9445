"""Signing staff in on a test client."""

from __future__ import annotations

from typing import Any


def sign_in(browser: Any, user: Any) -> None:
    """Sign `user` in on a test client, as the sign-in page would leave them."""
    browser.force_login(user)
