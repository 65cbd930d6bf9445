"""Forms of signing in and of the account page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from ally.web.accounts.models import User, normal_email


class SignInForm(AuthenticationForm):
    """Django's sign-in form, taking the email address in any capitals: it is looked up, and
    its failures counted towards the lockout, as stored (`normal_email`), so "ALEX@..." and
    "alex@..." are one account with one count."""

    def clean_username(self) -> str:
        return normal_email(str(self.cleaned_data.get("username") or ""))


class CodeForm(forms.Form):
    """A code from the authenticator app, or a recovery code."""

    code = forms.CharField(
        label=_("Code"),
        max_length=40,
        help_text=_(
            "The 6 digits your authenticator app shows now, or one of your recovery codes."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autocapitalize": "none"}),
    )


class SetupForm(forms.Form):
    """The first code of a new authenticator, which proves it was set up."""

    code = forms.CharField(
        label=_("Code from the app"),
        max_length=12,
        help_text=_("The 6 digits your authenticator app shows for Ally now."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class SetupAfterResetForm(SetupForm):
    """After an administrator's reset: also the setup code they handed over."""

    setup_code = forms.CharField(
        label=_("Setup code from your administrator"),
        max_length=20,
        help_text=_("The code your practice's administrator gave you when they reset your app."),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


class ConfirmForm(CodeForm):
    """The password and a code, before a change to the account (ASVS 7.5.1)."""

    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    field_order = ("password", "code")


class EmailForm(forms.Form):
    email = forms.EmailField(
        label=_("New email address"), widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )

    def __init__(self, user: User, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_email(self) -> str:
        email = normal_email(self.cleaned_data["email"])
        if email == normal_email(self.user.email):
            raise forms.ValidationError(_("This is already your address; type the new one."))
        if User.objects.filter(email=email).exclude(pk=self.user.pk).exists():
            raise forms.ValidationError(
                _("Another account signs in with this address; choose another.")
            )
        return email
