"""Signing in (password, then a code), signing out, and the member's own account page.

Every change on the account page (email, password, authenticator, recovery codes) first asks
for the password and a current code; the confirmation lasts ALLY_REAUTH_MINUTES (ASVS 7.5.1).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm, SetPasswordForm
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django_otp import login as otp_login  # type: ignore[import-untyped]

from ally.web.accounts import lockout, sessions, two_factor
from ally.web.accounts.forms import (
    CodeForm,
    ConfirmForm,
    EmailForm,
    SetupAfterResetForm,
    SetupForm,
    SignInForm,
)
from ally.web.accounts.models import SealedTOTPDevice, User
from ally.web.actions.accounts import (
    AccountActionError,
    do_change_email,
    do_change_password,
    do_confirm_authenticator,
    do_end_device,
    do_end_other_sessions,
    do_renew_recovery_codes,
)
from ally.web.clinic.roles import post_only
from ally.web.practice.models import Membership

CONFIRMED_AT = "ally_confirmed_at"

View = Callable[..., HttpResponse]


def signed_in(view: View) -> View:
    """Django's login_required, typed: a visitor goes to the sign-in page first."""
    return cast(View, login_required(view))


def home(request: HttpRequest) -> HttpResponse:
    """Where a signed-in member lands: their organisation's start page, or a choice of them."""
    if not request.user.is_authenticated:
        from ally.web.actions.members import practice_needs_setting_up

        if practice_needs_setting_up():
            return redirect("set_up")
        return redirect_to_login(request.get_full_path())
    memberships = (
        Membership.objects.filter(user=request.user, is_active=True)
        .select_related("organisation")
        .order_by("organisation__name")
    )
    if len(memberships) == 1:
        return redirect("clinic:home", org=memberships[0].organisation.slug)
    return render(request, "accounts/organisations.html", {"memberships": memberships})


# Signing in -------------------------------------------------------------------------------------


class SignInView(auth_views.LoginView):
    """The password step: a right password leads to the code step, not yet into Ally."""

    template_name = "accounts/login.html"
    redirect_authenticated_user = True
    authentication_form = SignInForm

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        two_factor.begin(self.request, form.get_user(), self.get_success_url())
        return redirect("two_factor")


def _pending_or_restart(request: HttpRequest) -> User | HttpResponse:
    user = two_factor.pending_user(request)
    if user is not None:
        return user
    if request.user.is_authenticated:
        return redirect("home")
    messages.info(
        request,
        _("Sign in with your password first; the code step then waits %(minutes)d minutes.")
        % {"minutes": two_factor.PENDING_MINUTES},
    )
    return redirect("login")


def _locked_context() -> dict[str, Any]:
    return {"limit": settings.AXES_FAILURE_LIMIT}


def code_step(request: HttpRequest) -> HttpResponse:
    """The second step: a code from the authenticator app, or a recovery code."""
    user = _pending_or_restart(request)
    if isinstance(user, HttpResponse):
        return user
    if lockout.is_locked(request, user.get_username()):
        return lockout.locked_out(request)
    if not two_factor.has_second_factor(user):
        return redirect("two_factor_setup")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = two_factor.verify_code(user, form.cleaned_data["code"])
        if device is not None:
            return redirect(two_factor.finish(request, user, device))
        if lockout.count_failure(request, user):
            return lockout.locked_out(request)
        form.add_error("code", _("This code is not right. Type the code the app shows now."))
    return render(request, "accounts/two_factor.html", {"form": form, **_locked_context()})


def setup(request: HttpRequest) -> HttpResponse:
    """Setting up an authenticator at the first sign-in (or after an administrator's reset)."""
    user = _pending_or_restart(request)
    if isinstance(user, HttpResponse):
        return user
    if lockout.is_locked(request, user.get_username()):
        return lockout.locked_out(request)
    if two_factor.has_second_factor(user):
        # A password alone never sets up a second authenticator: the code step asks for one.
        return redirect("two_factor")
    device = two_factor.enrolling_device(request, user)
    # After an administrator's reset the password alone does not enrol an app: the setup code
    # they handed over is asked for too (ASVS 6.4.4).
    after_reset = bool(user.setup_code)
    form_class = SetupAfterResetForm if after_reset else SetupForm
    form = form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if after_reset and not two_factor.setup_code_fits(user, form.cleaned_data["setup_code"]):
            if lockout.count_failure(request, user):
                return lockout.locked_out(request)
            form.add_error(
                "setup_code",
                _(
                    "This setup code is not right. Ask your practice's administrator for the "
                    "code they were shown when they reset your app."
                ),
            )
        elif device.verify_token(form.cleaned_data["code"].replace(" ", "")):
            codes = do_confirm_authenticator(user, device)
            next_url = two_factor.finish(request, user, device)
            return _show_recovery_codes(request, codes, next_url)
        else:
            if lockout.count_failure(request, user):
                return lockout.locked_out(request)
            form.add_error("code", _("This code is not right. Type the code the app shows now."))
    return render(request, "accounts/setup.html", _setup_context(device, form, first=True))


def _setup_context(device: Any, form: SetupForm, *, first: bool) -> dict[str, Any]:
    return {
        "form": form,
        "qr": two_factor.qr_svg(device),
        "secret": two_factor.secret_text(device),
        "first": first,
        **_locked_context(),
    }


def _show_recovery_codes(request: HttpRequest, codes: list[str], next_url: str) -> HttpResponse:
    request.session[two_factor.RECOVERY_CODES_SHOWN] = {"codes": codes, "next": next_url}
    return redirect("recovery_codes")


@signed_in
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """New recovery codes, shown once: the session forgets them as the page is drawn."""
    shown = request.session.pop(two_factor.RECOVERY_CODES_SHOWN, None) or {}
    context = {"codes": shown.get("codes"), "next": shown.get("next") or reverse("security")}
    return render(request, "accounts/recovery_codes.html", context)


@post_only
def sign_out(request: HttpRequest) -> HttpResponse:
    two_factor.drop_pending(request)
    if request.user.is_authenticated:
        sessions.sign_out(request, "session.signed_out")
        messages.info(request, _("You are signed out."))
    return redirect("login")


# The account page -------------------------------------------------------------------------------


def _confirmed_recently(request: HttpRequest) -> bool:
    at = request.session.get(CONFIRMED_AT)
    return at is not None and time.time() - float(at) <= settings.ALLY_REAUTH_MINUTES * 60


def confirmed(view: View) -> View:
    """Only after the password and a code were confirmed in the last few minutes."""

    @signed_in
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not _confirmed_recently(request):
            query = urlencode({"next": request.get_full_path()})
            return redirect(f"{reverse('security_confirm')}?{query}")
        return view(request, *args, **kwargs)

    return wrapped


@signed_in
def security(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    authenticator = SealedTOTPDevice.objects.filter(user=user, confirmed=True).first()
    context = {
        "authenticator": authenticator,
        "codes_left": two_factor.recovery_codes_left(user),
        "memberships": Membership.objects.filter(user=user, is_active=True)
        .select_related("organisation")
        .order_by("organisation__name"),
        "reauth_minutes": settings.ALLY_REAUTH_MINUTES,
        "devices": sessions.devices(user),
        "this_device": request.session.get(sessions.DEVICE_ROW),
    }
    return render(request, "accounts/security.html", context)


@signed_in
def confirm(request: HttpRequest) -> HttpResponse:
    """Re-authentication: the password and a current code, before a change to the account."""
    user: Any = request.user
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = reverse("security")
    if lockout.is_locked(request, user.get_username()):
        sessions.sign_out(request, "session.locked")
        return lockout.locked_out(request)
    form = ConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # The code is tried only with the right password, so a wrong password spends no code.
        if user.check_password(form.cleaned_data["password"]) and two_factor.verify_code(
            user, form.cleaned_data["code"]
        ):
            request.session[CONFIRMED_AT] = time.time()
            return redirect(next_url)
        if lockout.count_failure(request, user):
            # Whoever holds this session is guessing: it ends here.
            sessions.sign_out(request, "session.locked")
            return lockout.locked_out(request)
        form.add_error(None, _("The password or the code is not right. Try again."))
    context = {"form": form, "next": next_url, **_locked_context()}
    return render(request, "accounts/confirm.html", context)


@confirmed
def change_email(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    form = EmailForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        do_change_email(user, form.cleaned_data["email"])
        messages.success(request, _("You now sign in with %(email)s.") % {"email": user.email})
        return redirect("security")
    return render(request, "accounts/change_email.html", {"form": form})


@signed_in
@post_only
def sign_out_elsewhere(request: HttpRequest) -> HttpResponse:
    """End the member's sessions on every other device; this one stays, with a new key."""
    user: Any = request.user
    do_end_other_sessions(user, keep=request.session.get(sessions.DEVICE_ROW))
    update_session_auth_hash(request, user)
    messages.success(request, _("You are signed out on every other device and browser."))
    return redirect("security")


@signed_in
@post_only
def end_device(request: HttpRequest, pk: int) -> HttpResponse:
    """End one of the member's other signed-in browsers, from their list of devices."""
    user: Any = request.user
    try:
        do_end_device(user, pk, current=request.session.get(sessions.DEVICE_ROW))
    except AccountActionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("That device is signed out."))
    return redirect("security")


@confirmed
def change_password(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    form = SetPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        do_change_password(user, form.cleaned_data["new_password1"])
        # This session stays (with a new key); every other session of the member ends.
        update_session_auth_hash(request, user)
        messages.success(request, _("Your password is changed. Your other sessions have ended."))
        return redirect("security")
    return render(request, "accounts/change_password.html", {"form": form})


@confirmed
def renew_recovery_codes(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        codes = do_renew_recovery_codes(request.user)
        return _show_recovery_codes(request, codes, reverse("security"))
    return render(request, "accounts/renew_recovery_codes.html")


@confirmed
def replace_authenticator(request: HttpRequest) -> HttpResponse:
    """A new authenticator app in place of the old one, proven by its first code."""
    user: Any = request.user
    device = two_factor.enrolling_device(request, user)
    form = SetupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["code"].replace(" ", "")):
            codes = do_confirm_authenticator(user, device)
            request.session.pop(two_factor.ENROLLING, None)
            # The old device verified this session; the new one does now. The member's other
            # sessions, verified by the old one, end at their next request.
            otp_login(request, device)
            return _show_recovery_codes(request, codes, reverse("security"))
        if lockout.count_failure(request, user):
            sessions.sign_out(request, "session.locked")
            return lockout.locked_out(request)
        form.add_error("code", _("This code is not right. Type the code the new app shows now."))
    return render(request, "accounts/setup.html", _setup_context(device, form, first=False))
