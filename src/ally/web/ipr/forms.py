"""The forms of IPR: attaching a recording and its transcript, the client's consent, a mark
(times typed as mm:ss or h:mm:ss, so the review works without JavaScript), and the named event.

The recall prompts and the 1-9 scale follow the structure of Kagan's recall questions and
Elliott's helpfulness scale, in Ally's own words (Elliott's forms are copyrighted)."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from ally.ipr.marks import Kind
from ally.web.actions.ipr import LONGEST_ANSWER
from ally.web.ipr.models import ConsentScope, Part
from ally.web.text import NOTE, TextField

RATINGS = [
    (1, _("1: very hindering")),
    (2, _("2: hindering")),
    (3, _("3: somewhat hindering")),
    (4, _("4: slightly hindering")),
    (5, _("5: neither helpful nor hindering")),
    (6, _("6: slightly helpful")),
    (7, _("7: somewhat helpful")),
    (8, _("8: helpful")),
    (9, _("9: very helpful")),
]
KINDS = [
    (Kind.HELPFUL.value, _("Helpful")),
    (Kind.HINDERING.value, _("Hindering")),
    (Kind.SIGNIFICANT.value, _("Significant")),
]


def seconds_of(text: str) -> int:
    """Seconds from "m:ss", "h:mm:ss" or a plain number of seconds; ValueError otherwise."""
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise ValueError(text)
    numbers = [int(p) for p in parts]
    if any(n >= 60 for n in numbers[1:]):
        raise ValueError(text)
    seconds = 0
    for number in numbers:
        seconds = seconds * 60 + number
    return seconds


def clock(seconds: int) -> str:
    """Seconds as m:ss (h:mm:ss from an hour on), the way marks are typed."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class TimeField(forms.CharField):
    default_error_messages: ClassVar[dict[str, Any]] = {
        "invalid": _("Write the time as minutes and seconds, for example 12:05."),
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 9)
        kwargs.setdefault(
            "widget",
            forms.TextInput(
                attrs={"inputmode": "numeric", "autocomplete": "off", "pattern": r"[0-9:]*"}
            ),
        )
        super().__init__(**kwargs)

    def clean(self, value: Any) -> int | None:
        text = super().clean(value)
        if not text:
            return None
        try:
            return seconds_of(text)
        except ValueError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class UploadForm(forms.Form):
    media = forms.FileField(
        label=_("The recording (audio or video)"),
        widget=forms.ClearableFileInput(attrs={"accept": "audio/*,video/*"}),
    )
    retention_until = forms.DateField(
        label=_("Keep it until"),
        help_text=_("Then it is deleted; the marks stay. The client may choose an earlier day."),
        widget=forms.DateInput(attrs={"type": "date"}),
    )


class TranscriptForm(forms.Form):
    transcript = forms.FileField(
        label=_("Transcript (WebVTT, .vtt)"),
        widget=forms.ClearableFileInput(attrs={"accept": ".vtt,text/vtt"}),
    )


class ConsentForm(forms.Form):
    scope = forms.ChoiceField(
        label=_("What may the recording be used for?"),
        choices=ConsentScope.choices,
        widget=forms.RadioSelect,
    )
    retention_until = forms.DateField(
        label=_("Delete it after"),
        help_text=_("The day after which the recording is deleted. Your marks are kept."),
        widget=forms.DateInput(attrs={"type": "date"}),
    )


def _answer(label: Any) -> forms.CharField:
    # Typed words are checked like every note in Ally (no hidden or direction characters).
    return TextField(
        rule=NOTE,
        label=label,
        required=False,
        max_length=LONGEST_ANSWER,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class MarkForm(forms.Form):
    start = TimeField(label=_("From (minutes:seconds)"))
    end = TimeField(label=_("To (leave empty for a single moment)"), required=False)
    kind = forms.ChoiceField(label=_("This moment was"), choices=KINDS, widget=forms.RadioSelect)
    rating = forms.TypedChoiceField(
        label=_("How helpful or hindering was it?"),
        choices=[("", _("Choose a rating")), *RATINGS],
        coerce=int,
        empty_value=None,
        required=False,
    )
    part = forms.ChoiceField(label=_("This mark is"), choices=Part.choices, required=False)

    def __init__(self, *args: Any, client: bool, event: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not event:
            del self.fields["part"]
        other = _("your practitioner") if client else _("the client")
        self.fields["then"] = _answer(
            _("What were you thinking and feeling at that moment, back then?")
        )
        self.fields["wanted"] = _answer(_("What did you want to say or do then?"))
        self.fields["other_saw"] = _answer(
            _("How did you think %(other)s saw you then?") % {"other": other}
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start is not None and end is not None and end < start:
            self.add_error("end", _("The end comes after the start."))
        return data


class EventForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("The event that mattered most in this session was"),
        choices=[
            (Kind.HELPFUL.value, _("the most helpful")),
            (Kind.HINDERING.value, _("the most hindering")),
        ],
        widget=forms.RadioSelect,
    )
    what = TextField(
        rule=NOTE,
        label=_("What happened, in a few words?"),
        max_length=LONGEST_ANSWER,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    then = _answer(_("What was going on for you then?"))
    rating = forms.TypedChoiceField(
        label=_("How helpful or hindering was this event?"),
        choices=[("", _("Choose a rating")), *RATINGS],
        coerce=int,
    )


def retention_choice(today: dt.date, latest: dt.date) -> dict[str, Any]:
    """The date input's bounds: tomorrow to the latest day allowed."""
    return {"min": (today + dt.timedelta(days=1)).isoformat(), "max": latest.isoformat()}
