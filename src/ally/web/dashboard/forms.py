"""The dashboard's filters: a period and one clinician or all, sent as a plain GET form."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from ally.web.dashboard.figures import Period
from ally.web.practice.models import Membership

DATE_FORMAT = "%Y-%m-%d"
"""What a date field sends (HTML's date input); the browser shows it in the reader's own way."""
EARLIEST, LATEST = dt.date(1900, 1, 1), dt.date(2999, 12, 31)
"""Days outside these are typing slips (and the day after 9999-12-31 does not exist)."""


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self) -> None:
        super().__init__(format=DATE_FORMAT)


class FilterForm(forms.Form):
    start = forms.DateField(
        label=_("From"),
        required=False,
        widget=DateInput(),
        input_formats=[DATE_FORMAT],
        help_text=_("First day of the period."),
    )
    end = forms.DateField(
        label=_("To"),
        required=False,
        widget=DateInput(),
        input_formats=[DATE_FORMAT],
        help_text=_("Last day of the period, included."),
    )
    clinician = forms.TypedChoiceField(label=_("Clinician"), required=False, coerce=int)

    def __init__(
        self, data: Any, *, members: Sequence[Membership], default: Period, **kwargs: Any
    ) -> None:
        super().__init__(data, initial={"start": default.start, "end": default.end}, **kwargs)
        self.default = default
        self.members = {member.pk: member for member in members}
        self.fields["clinician"].choices = [("", _("All clinicians"))] + [
            (member.pk, str(member.user)) for member in members
        ]
        # Only a typed address gets here: the date field itself sends a day or nothing.
        self.fields["start"].error_messages["invalid"] = _(
            "That is not a day: choose the first day in the date field."
        )
        self.fields["end"].error_messages["invalid"] = _(
            "That is not a day: choose the last day in the date field."
        )
        self.fields["clinician"].error_messages["invalid_choice"] = _(
            "That clinician is not in this practice; choose one from the list."
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name in ("start", "end"):
            day = cleaned.get(name)
            if day is not None and not EARLIEST <= day <= LATEST:
                self.add_error(name, _("Choose a day between the years 1900 and 2999."))
        start, end = cleaned.get("start"), cleaned.get("end")
        if "start" in cleaned and "end" in cleaned:
            start = start or self.default.start
            end = end or self.default.end
            if start > end:
                self.add_error(
                    "start",
                    _("The first day is after the last day; choose a first day on or before it."),
                )
        return cleaned

    def period(self) -> Period:
        """The chosen period, with the default for a day left empty (call after is_valid)."""
        start: dt.date = self.cleaned_data.get("start") or self.default.start
        end: dt.date = self.cleaned_data.get("end") or self.default.end
        return Period(start, end)

    def chosen(self) -> Membership | None:
        """The chosen clinician, or None for all (call after is_valid)."""
        pk = self.cleaned_data.get("clinician")
        return self.members[pk] if pk not in (None, "") else None
