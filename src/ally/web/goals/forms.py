"""The forms of goals, for staff and for clients: a goal's words, the ideal-life exercise, a
goal's GAS weight and the GAS levels of a session."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from ally.scoring.gas import LEVELS
from ally.web.goals.models import LONGEST_ANSWER, LONGEST_GOAL

LEVEL_WORDS = {
    -2: _("−2: much less than expected"),
    -1: _("−1: somewhat less than expected"),
    0: _("0: as expected"),
    1: _("+1: somewhat more than expected"),
    2: _("+2: much more than expected"),
}


class GoalForm(forms.Form):
    text = forms.CharField(
        label=_("The goal, in the client's own words"),
        max_length=LONGEST_GOAL,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


class ClientGoalForm(forms.Form):
    text = forms.CharField(
        label=_("Your goal, in your own words"),
        max_length=LONGEST_GOAL,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


def exercise_fields(client: bool) -> dict[str, forms.Field]:
    """The ideal-life exercise, in Ally's own words (not a validated instrument)."""
    you = client

    def text(label: Any) -> forms.CharField:
        return forms.CharField(
            label=label,
            required=False,
            max_length=LONGEST_ANSWER,
            widget=forms.Textarea(attrs={"rows": 3}),
        )

    return {
        "different": text(
            _("Imagine your life as you would like it to be. What would be different?")
            if you
            else _(
                "If the client's life were as they would like it to be, what would be different?"
            )
        ),
        "first_signs": text(
            _("What would be the first small signs that things are moving that way?")
        ),
        "who_notices": text(_("Who would notice, and what would they notice?")),
        "now": forms.IntegerField(
            label=_("Where are you now, from 0 (far from it) to 10 (your life as you want it)?")
            if you
            else _("Where is the client now, from 0 (far from it) to 10 (life as they want it)?"),
            required=False,
            min_value=0,
            max_value=10,
        ),
        "good_enough": text(_("What would be good enough, even if not everything changed?")),
    }


class ExerciseForm(forms.Form):
    def __init__(self, *args: Any, client: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields.update(exercise_fields(client))


class WeightForm(forms.Form):
    weight = forms.FloatField(
        label=_("Weight in the GAS T-score"),
        required=False,
        min_value=0,
        max_value=100,
        help_text=_("Empty: 1. Often importance (0-3) times difficulty (0-3)."),
    )


class AttainmentForm(forms.Form):
    """The GAS level of each open goal at one session."""

    def __init__(
        self,
        *args: Any,
        sessions: list[tuple[int, str]],
        goals: list[tuple[int, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["session"] = forms.TypedChoiceField(
            label=_("Session"), choices=sessions, coerce=int
        )
        for number, label in goals:
            self.fields[f"goal_{number}"] = forms.TypedChoiceField(
                label=label,
                choices=[("", _("Not rated")), *((str(x), LEVEL_WORDS[x]) for x in LEVELS)],
                coerce=int,
                required=False,
                empty_value=None,
            )

    def levels(self) -> dict[int, int | None]:
        return {
            int(name.removeprefix("goal_")): value
            for name, value in self.cleaned_data.items()
            if name.startswith("goal_")
        }
