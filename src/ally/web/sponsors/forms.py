from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class SponsorForm(forms.Form):
    sponsor = forms.CharField(
        label=_("Sponsor"),
        max_length=200,
        required=False,
        help_text=_(
            "Who pays for this coaching, e.g. the client's employer. Leave empty when the client "
            "pays. The sponsor sees the client's answers only if the client agrees."
        ),
    )


class ConsentForm(forms.Form):
    agreed = forms.TypedChoiceField(
        label=_("What may the sponsor see?"),
        choices=(
            ("no", _("Only how many sessions took place")),
            ("yes", _("Also my wellbeing (WHO-5) and my goal progress, by session")),
        ),
        coerce=lambda value: value == "yes",
        widget=forms.RadioSelect,
    )
