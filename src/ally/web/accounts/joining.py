"""Joining Ally: the first-run set-up of a fresh install, and accepting an invitation.

Both end where every sign-in ends: with the password given, the member sets up their
authenticator app (`two_factor_setup`) before any page of the practice opens.

The set-up page asks for a one-time key, kept in the data folder (SETUP_KEY_FILE, private to
Ally's user) and printed as a link by `ally serve` or `ally manage setup_link`: whoever reaches a
fresh install over the network first cannot make themselves its administrator.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from ally.web.accounts import lockout, two_factor
from ally.web.accounts.forms import AcceptInvitationForm, SetUpPracticeForm
from ally.web.accounts.models import User
from ally.web.actions.members import (
    InvitationError,
    MemberActionError,
    do_accept_invitation,
    do_set_up_practice,
    open_invitation,
    practice_needs_setting_up,
)
from ally.web.clinic.forms import add_action_error


def _to_second_factor(request: HttpRequest, user: User, next_url: str) -> HttpResponse:
    user.backend = "django.contrib.auth.backends.ModelBackend"
    two_factor.begin(request, user, next_url)
    return redirect("two_factor_setup")


SETUP_KEY_FILE = "setup-key"


def setup_key() -> str:
    """The fresh install's one-time set-up key, made on first use."""
    path = Path(settings.ALLY_DATA_DIR) / SETUP_KEY_FILE
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_urlsafe(24))
    return path.read_text().strip()


def setup_url(base: str) -> str:
    return f"{base.rstrip('/')}{reverse('set_up')}?key={setup_key()}"


def _key_fits(given: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), setup_key().encode())


def set_up(request: HttpRequest) -> HttpResponse:
    """The first page of a fresh install: the practice and its first administrator, with the
    set-up key. Once a practice exists it is gone (404)."""
    if not practice_needs_setting_up():
        raise Http404("Not found.")
    key = request.POST.get("key") or request.GET.get("key", "")
    if not _key_fits(str(key)):
        return render(request, "accounts/set_up_key.html", status=403)
    form = SetUpPracticeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            admin = do_set_up_practice(
                data["name"],
                kind=data["kind"],
                client_word=data["client_word"] or "client",
                email=data["email"],
                password=data["password"],
                display_name=data["display_name"],
            )
        except MemberActionError as refused:
            add_action_error(form, refused)
        else:
            (Path(settings.ALLY_DATA_DIR) / SETUP_KEY_FILE).unlink(missing_ok=True)
            home = reverse("members:list", kwargs={"org": admin.organisation.slug})
            return _to_second_factor(request, admin.user, home)
    return render(
        request,
        "accounts/set_up.html",
        {"form": form, "key": key},
        status=400 if form.errors else 200,
    )


def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """An invitation's link: the invitee sets their password (or gives their existing one),
    then their second factor."""
    try:
        invited = open_invitation(token)
    except InvitationError:
        return render(request, "accounts/invitation_closed.html", status=404)
    existing = User.objects.filter(email=invited.email).exists()
    if existing and lockout.is_locked(request, invited.email):
        return lockout.locked_out(request)
    form = AcceptInvitationForm(request.POST or None, existing=existing, email=invited.email)
    if request.method == "POST" and form.is_valid():
        try:
            membership = do_accept_invitation(
                invited,
                password=form.cleaned_data["password"],
                display_name=form.cleaned_data.get("display_name", ""),
            )
        except MemberActionError as refused:
            add_action_error(form, refused)
            account = User.objects.filter(email=invited.email).first()
            if existing and account is not None and lockout.count_failure(request, account):
                return lockout.locked_out(request)
        else:
            start = reverse("clinic:home", kwargs={"org": membership.organisation.slug})
            user = membership.user
            if two_factor.has_second_factor(user):
                two_factor.begin(request, user, start)
                return redirect("two_factor")
            return _to_second_factor(request, user, start)
    return render(
        request,
        "accounts/invitation.html",
        {"form": form, "invitation": invited, "existing": existing},
        status=400 if form.errors else 200,
    )
