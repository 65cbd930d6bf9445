"""The group page's forms: each field labelled, each error saying what to do."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ally.web.clinic.forms import MemberChoiceField, staff_who_hold_episodes
from ally.web.clinic.labels import TIMING_WORDS
from ally.web.collect import measures
from ally.web.collect.models import Timing
from ally.web.groups.levels import check_in_measures
from ally.web.practice.models import Episode, Group, Membership
from ally.web.scoping import scoped
from ally.web.text import LINE, TextField
from ally.web.vocabulary import offers_measure

WEEKDAY_WORDS: dict[int, Any] = {
    # By Weekday's values (Monday 0), as Python's date.weekday() counts.
    0: _("Monday"),
    1: _("Tuesday"),
    2: _("Wednesday"),
    3: _("Thursday"),
    4: _("Friday"),
    5: _("Saturday"),
    6: _("Sunday"),
}


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class LeaderChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Membership) -> str:
        return str(obj.user)


class GroupForm(forms.Form):
    label = TextField(
        rule=LINE,
        label=_("Name of the group"),
        max_length=200,
        help_text=_("Such as “Tuesday evening group”: a name that identifies none of its members."),
    )
    leaders = LeaderChoiceField(
        queryset=Membership.objects.none(),
        label=_("Leaders"),
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, membership: Membership, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["leaders"].queryset = staff_who_hold_episodes(membership)
        self.fields["leaders"].initial = [membership.pk]


class ScheduleForm(forms.Form):
    weekday = forms.TypedChoiceField(
        label=_("Day of the week"),
        coerce=int,
        choices=list(WEEKDAY_WORDS.items()),
    )
    starts_at = forms.TimeField(
        label=_("Starts at"), widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    minutes = forms.IntegerField(label=_("Length in minutes"), min_value=1, initial=90)
    every_weeks = forms.IntegerField(label=_("Every how many weeks"), min_value=1, initial=1)


class EpisodeChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Episode) -> str:
        return str(obj.client.code)


class MemberForm(forms.Form):
    episode = EpisodeChoiceField(
        queryset=Episode.objects.none(),
        label=_("Client"),
        help_text=_("Clients with an open episode you can see who are not in the group yet."),
    )
    joined_on = forms.DateField(label=_("Joins on"), widget=_date_input())

    def __init__(self, *args: Any, membership: Membership, group: Group, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["episode"].queryset = (
            scoped(Episode, membership)
            .filter(ended_on__isnull=True)
            .exclude(group_places__group=group)
            .select_related("client")
            .order_by("client__code")
        )
        self.fields["joined_on"].initial = timezone.localdate()


class LeaveForm(forms.Form):
    left_on = forms.DateField(label=_("Leaves on"), widget=_date_input())


def group_measure_choices(organisation: Any = None) -> list[tuple[str, str]]:
    """The group check-in first, then the measures clients can answer (a coaching practice's
    without measures of symptoms)."""
    chosen = [measures.measure(m) for m in check_in_measures()]
    chosen = [m for m in chosen if measures.has_text(m)]
    chosen += sorted(
        (
            m
            for m in measures.library()
            if m.kind.feeds_practice_model
            and measures.has_text(m)
            and offers_measure(organisation, m.id)
        ),
        key=lambda m: m.name.lower(),
    )
    return [(m.id, m.name) for m in chosen]


class GroupPlanForm(forms.Form):
    measure = forms.ChoiceField(label=_("Measure"), choices=())
    timing = forms.ChoiceField(
        label=_("When"),
        choices=[(t, TIMING_WORDS[t]) for t in (Timing.AFTER, Timing.BEFORE)],
    )
    first_session = forms.IntegerField(label=_("From group session"), min_value=1, initial=1)
    every = forms.IntegerField(label=_("Every how many sessions"), min_value=1, initial=1)

    def __init__(self, *args: Any, organisation: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["measure"].choices = group_measure_choices(organisation)


class GroupSessionForm(forms.Form):
    scheduled_at = forms.DateTimeField(
        label=_("Date and time"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    leader = MemberChoiceField(
        queryset=Membership.objects.none(), label=_("Led by"), empty_label=None
    )

    def __init__(self, *args: Any, group: Group, initial_at: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["leader"].queryset = group.leaders.select_related("user").order_by("pk")
        first = group.leaders.order_by("pk").first()
        self.fields["leader"].initial = first.pk if first else None
        if initial_at is not None:
            self.fields["scheduled_at"].initial = timezone.localtime(initial_at)


class AttendanceForm(forms.Form):
    """One box per member taking part; ticked: came."""

    cancelled = forms.BooleanField(
        label=_("The session did not take place (cancelled)"), required=False
    )

    def __init__(self, *args: Any, parts: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for part in parts:
            name = f"came_{part.episode_id}"
            self.fields[name] = forms.BooleanField(
                label=str(part.episode.client.code),
                required=False,
                initial=part.session.status == "attended" or part.session.status == "scheduled",
            )

    def came(self) -> dict[int, bool]:
        return {
            int(name.removeprefix("came_")): bool(value)
            for name, value in self.cleaned_data.items()
            if name.startswith("came_")
        }
