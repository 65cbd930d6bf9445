"""The privacy pages' forms: each field labelled, each error saying what to do. Typed text is
checked by the one rule for notes (`ally.web.text.NOTE`): no control, direction-changing or
invisible character, stored in NFC."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from ally.web.privacy.models import Exemption
from ally.web.text import NOTE, TextField


class EraseForm(forms.Form):
    """Erasure cannot be undone, so the administrator types the client's code to confirm."""

    code = forms.CharField(
        label=_("Type the client's code to confirm"),
        max_length=40,
        help_text=_("Erasing cannot be undone: the client's data cannot be recovered afterwards."),
    )

    def __init__(self, *args: Any, client_code: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client_code = client_code

    def clean_code(self) -> str:
        code: str = self.cleaned_data["code"].strip()
        if code != self.client_code:
            raise forms.ValidationError(
                _("This is not the client's code; type it exactly as shown above.")
            )
        return code


class RefuseForm(forms.Form):
    exemption = forms.ChoiceField(
        label=_("Exemption the practice relies on"),
        choices=Exemption.choices,
        widget=forms.RadioSelect,
    )
    reason = TextField(
        rule=NOTE,
        label=_("Reason"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Which duty or claim requires keeping the data, and until when. No clinical details."
        ),
    )


class PolicyForm(forms.Form):
    policy = TextField(
        rule=NOTE,
        label=_("Erasure policy"),
        required=False,
        max_length=10000,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_(
            "What the practice keeps when a client asks for erasure, on which ground "
            "(GDPR Art. 17(3)) and for how long; e.g. clinical records kept for the period the "
            "law of your country requires. Administrators see it when they decide."
        ),
    )
