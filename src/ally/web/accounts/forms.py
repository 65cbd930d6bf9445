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


class NewPasswordMixin(forms.Form):
    """A new password, checked by Django's validators (settings.AUTH_PASSWORD_VALIDATORS)."""

    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 12 characters; a few unrelated words are easy to remember."),
    )

    def clean_password(self) -> str:
        from django.contrib.auth.password_validation import validate_password

        password = str(self.cleaned_data["password"])
        validate_password(password, User(email=str(self.data.get("email", ""))))
        return password


class SetUpPracticeForm(NewPasswordMixin):
    """The first-run set-up: the practice, and its first administrator."""

    name = forms.CharField(label=_("The practice's name"), max_length=200)
    kind = forms.ChoiceField(
        label=_("What the practice does"), widget=forms.RadioSelect, choices=()
    )
    client_word = forms.ChoiceField(
        label=_("A coaching practice calls the people it coaches"),
        widget=forms.RadioSelect,
        choices=(),
        required=False,
        help_text=_("Only for a coaching practice."),
    )
    display_name = forms.CharField(label=_("Your name"), max_length=150, required=False)
    email = forms.EmailField(
        label=_("Your email address"),
        help_text=_("You sign in with it; Ally's emails to you go there."),
        widget=forms.EmailInput(attrs={"autocomplete": "username"}),
    )
    field_order = ("name", "kind", "client_word", "display_name", "email", "password")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from ally.web.practice.models import ClientWord, PracticeKind

        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = PracticeKind.choices
        self.fields["kind"].initial = PracticeKind.THERAPY
        self.fields["client_word"].choices = ClientWord.choices
        self.fields["client_word"].initial = ClientWord.CLIENT


class AcceptInvitationForm(forms.Form):
    """The invitee's name and password (their existing password when they have an account)."""

    display_name = forms.CharField(label=_("Your name"), max_length=150, required=False)
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: Any, existing: bool, email: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.existing, self.email = existing, email
        if existing:
            del self.fields["display_name"]
            self.fields["password"].label = _("Your Ally password")
            self.fields["password"].help_text = _(
                "You have an Ally account with this address: give its password."
            )
            self.fields["password"].widget.attrs["autocomplete"] = "current-password"
        else:
            self.fields["password"].help_text = _(
                "At least 12 characters; a few unrelated words are easy to remember."
            )

    def clean_password(self) -> str:
        from django.contrib.auth.password_validation import validate_password

        password = str(self.cleaned_data["password"])
        if not self.existing:
            validate_password(password, User(email=self.email))
        return password


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("Email address"))
    role = forms.ChoiceField(label=_("Role"), choices=())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from ally.web.scoping import Role

        super().__init__(*args, **kwargs)
        self.fields["role"].choices = role_choices()
        self.fields["role"].initial = Role.CLINICIAN


def role_choices() -> list[tuple[str, str]]:
    """The roles, in the member's language and the practice's words."""
    from ally.web.scoping import Role

    return [(str(value), str(label)) for value, label in Role.choices]
