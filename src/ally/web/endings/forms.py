"""The end-of-therapy review as the client answers it, and the ending's choices on the staff's
end page: the closing summary and a follow-up check. Ally's own words, not a validated form."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from ally.web.actions.endings import LONGEST_FOLLOW_UP_WEEKS, FollowUpChoice, outcome_measures
from ally.web.clinic.course import measure_name
from ally.web.clinic.forms import EndEpisodeForm
from ally.web.endings.models import LONGEST_REVIEW_ANSWER, LONGEST_SUMMARY
from ally.web.text import NOTE, TextField
from ally.web.vocabulary import offers_measure

CHANGE_WORDS = (
    (3, _("Much better")),
    (2, _("Better")),
    (1, _("A little better")),
    (0, _("No different")),
    (-1, _("A little worse")),
    (-2, _("Worse")),
    (-3, _("Much worse")),
)


def _written(label: Any) -> TextField:
    return TextField(
        rule=NOTE,
        label=label,
        required=False,
        max_length=LONGEST_REVIEW_ANSWER,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class ReviewForm(forms.Form):
    change = forms.TypedChoiceField(
        label=_("Overall, how have things changed for you since therapy began?"),
        choices=CHANGE_WORDS,
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose how things have changed for you overall.")},
    )
    helped = _written(_("What helped you most? Something that was said or done, or anything else."))
    hindered = _written(
        _("Was there anything that got in the way or did not help? You can leave this empty.")
    )
    keep_doing = _written(_("What will you keep doing now that therapy has ended?"))


class ClosingSummaryForm(forms.Form):
    summary = TextField(
        rule=NOTE,
        label=_("Closing summary"),
        max_length=LONGEST_SUMMARY,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_(
            "What the work was about, what changed, and what the client takes with them. It "
            "appears on the client page and, if you choose, in the end report."
        ),
    )


class EndWithChoicesForm(EndEpisodeForm):
    """The end page: the date and reason, then what the ending keeps and sends."""

    summary = TextField(
        rule=NOTE,
        label=_("Closing summary (optional now)"),
        max_length=LONGEST_SUMMARY,
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_(
            "What the work was about, what changed, and what the client takes with them. You can "
            "also write it on the next page or later."
        ),
    )
    follow_up_measures = forms.MultipleChoiceField(
        label=_("Follow-up check: measures to ask (optional)"),
        choices=(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Sent once, some weeks after the ending, by the usual link. Shown on the client page "
            "as a follow-up, apart from the course of therapy."
        ),
    )
    follow_up_weeks = forms.IntegerField(
        label=_("Weeks after the ending"),
        min_value=1,
        max_value=LONGEST_FOLLOW_UP_WEEKS,
        required=False,
        initial=12,
    )
    tell_stopped = forms.BooleanField(
        label=_("Tell the client that we noticed they stopped (unplanned endings only)"),
        required=False,
        help_text=_(
            "A short email naming the practice only. Off unless you tick it: an email can be "
            "read by others."
        ),
    )

    def __init__(self, *args: Any, organisation: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        measure_field = self.fields["follow_up_measures"]
        assert isinstance(measure_field, forms.MultipleChoiceField)
        measure_field.choices = [
            (m, measure_name(m)) for m in outcome_measures() if offers_measure(organisation, m)
        ]
        if not settings.ALLY_STOPPED_MESSAGE:
            del self.fields["tell_stopped"]

    def follow_up(self) -> FollowUpChoice | None:
        chosen = self.cleaned_data.get("follow_up_measures") or []
        if not chosen:
            return None
        return FollowUpChoice(tuple(chosen), self.cleaned_data.get("follow_up_weeks") or 12)
