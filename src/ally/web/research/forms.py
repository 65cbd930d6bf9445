"""The research export form: the date profile and the smallest count shown."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from ally.interop.research import DateProfile
from ally.interop.research.deidentify import MIN_CELL

DATE_CHOICES = (
    (
        DateProfile.SHIFT.value,
        _(
            "Shifted: each client's dates moved by their own random number of weeks "
            "(intervals kept)"
        ),
    ),
    (
        DateProfile.YEAR.value,
        _("Year only, with days since the client's first contact (Safe Harbor style)"),
    ),
)


class ResearchExportForm(forms.Form):
    dates = forms.ChoiceField(
        label=_("Dates"),
        choices=DATE_CHOICES,
        initial=DateProfile.SHIFT.value,
        widget=forms.RadioSelect,
    )
    min_cell = forms.IntegerField(
        label=_("Smallest count shown in the summary"),
        min_value=1,
        max_value=1000,
        initial=MIN_CELL,
        help_text=_(
            "Counts below this are left out of summary.csv. 11 follows the CMS cell size "
            "policy (no count from 1 to 10 is shown); an ethics board may ask for more."
        ),
    )
