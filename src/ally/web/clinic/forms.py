"""The staff side's forms: each field labelled, each error saying what to do."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ally.web.clinic.guidance import Guidance, Step
from ally.web.clinic.labels import (
    END_REASON_WORDS,
    RESPONDENT_WORDS,
    SESSION_STATUS_WORDS,
    TIMING_WORDS,
)
from ally.web.clinic.roles import SESSION_LEADERS
from ally.web.collect import measures
from ally.web.collect.models import Respondent, Timing
from ally.web.practice.models import Client, EndReason, Membership, SessionStatus, TeamRole
from ally.web.scoping import scoped
from ally.web.text import CODE, LINE, NOTE, NOTE_MAX_LENGTH, TextField
from ally.web.vocabulary import offers_measure

CODE_HELP = _(
    "A code your practice uses for this client, such as C-0142. Never a name, initials or a "
    "date of birth: the code appears on every screen and export."
)


def add_action_error(form: forms.Form, error: Exception) -> None:
    """Show a refusal of an action on the field it names, or above the form."""
    field = getattr(error, "field", "") or None
    form.add_error(field if field in form.fields else None, str(error))


class MemberChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Membership) -> str:
        return str(obj.user)


def staff_who_hold_episodes(
    membership: Membership, keep: Membership | None = None
) -> QuerySet[Membership]:
    """Active members of the organisation who lead sessions (`SESSION_LEADERS`): the choices
    for an episode's clinician, a session's "Led by" and the care team. `keep` stays a choice
    whatever its role: the clinician an episode already has."""
    leads = Q(is_active=True, user__is_active=True, role__in=list(SESSION_LEADERS))
    return (
        scoped(Membership, membership)
        .filter((leads | Q(pk=keep.pk)) if keep is not None else leads)
        .select_related("user")
        .order_by("user__display_name", "user__email")
    )


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class EpisodeFields(forms.Form):
    clinician = MemberChoiceField(
        queryset=Membership.objects.none(),
        label=_("Clinician"),
        help_text=_("The clinician responsible for this episode."),
        empty_label=None,
    )
    opened_on = forms.DateField(label=_("Opened on"), widget=_date_input())

    def __init__(self, *args: Any, membership: Membership, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["clinician"].queryset = staff_who_hold_episodes(membership)
        self.fields["clinician"].initial = membership.pk
        self.fields["opened_on"].initial = timezone.localdate()


class NewClientForm(EpisodeFields):
    """A client, their contact details and their first episode."""

    code = TextField(rule=CODE, label=_("Client code"), max_length=40, help_text=CODE_HELP)
    name = TextField(rule=LINE, label=_("Name"), max_length=200)
    email = forms.EmailField(
        label=_("Email address"),
        required=False,
        # The longest address SMTP carries (RFC 5321), and the column's width: Django's form
        # default of 320 would let PostgreSQL refuse the row.
        max_length=254,
        help_text=_("For sending the client their questionnaire links. Optional."),
    )
    phone = TextField(rule=LINE, label=_("Phone number"), max_length=40, required=False)

    field_order = ("code", "name", "email", "phone", "clinician", "opened_on")


class ClientChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Client) -> str:
        return obj.code


class EpisodeForm(EpisodeFields):
    """A further episode for a client already known."""

    client = ClientChoiceField(queryset=Client.objects.none(), label=_("Client"))

    field_order = ("client", "clinician", "opened_on")

    def __init__(self, *args: Any, membership: Membership, **kwargs: Any) -> None:
        super().__init__(*args, membership=membership, **kwargs)
        self.fields["client"].queryset = (
            scoped(Client, membership).filter(episodes__isnull=False).distinct().order_by("code")
        )


CLIENTS_CAN_ANSWER = _("Clients can answer")
CLINICIAN_ONLY = _("Questions not installed: only your own rating")


def measure_choices(organisation: Any = None) -> list[tuple[str, list[tuple[str, str]]]]:
    """The library's measures in two groups: those whose questions are installed, which clients
    can answer, and those whose licence keeps their questions out of Ally (`text_may_ship`),
    which only a clinician can rate, from the licensed paper form. The support check is not
    planned: it is sent when the client goes off track, or by hand from the client page."""
    planned = [
        m
        for m in measures.library()
        if m.kind.feeds_practice_model and offers_measure(organisation, m.id)
    ]
    ordered = sorted(planned, key=lambda m: m.name.lower())
    groups = [
        (str(CLIENTS_CAN_ANSWER), [(m.id, m.name) for m in ordered if measures.has_text(m)]),
        (str(CLINICIAN_ONLY), [(m.id, m.name) for m in ordered if not measures.has_text(m)]),
    ]
    return [(label, choices) for label, choices in groups if choices]


class PlanEntryForm(forms.Form):
    measure = forms.ChoiceField(
        label=_("Measure"),
        choices=(),
        help_text=_(
            "Clients answer the measures whose questions are installed. The others' licences "
            "keep their questions out of Ally: you can plan them only as your own rating."
        ),
    )
    respondent = forms.ChoiceField(
        label=_("Who answers"),
        choices=[(r, RESPONDENT_WORDS[r]) for r in (Respondent.CLIENT, Respondent.CLINICIAN)],
        help_text=_("Clinician: your own rating of the session, e.g. of the alliance."),
    )
    timing = forms.ChoiceField(
        label=_("When"), choices=[(t, TIMING_WORDS[t]) for t in (Timing.BEFORE, Timing.AFTER)]
    )
    first_session = forms.IntegerField(label=_("First at session"), min_value=1, initial=1)
    every = forms.IntegerField(
        label=_("Then every"),
        min_value=1,
        initial=1,
        help_text=_("1: every session; 2: every other session."),
    )
    last_session = forms.IntegerField(
        label=_("Last at session"),
        min_value=1,
        required=False,
        help_text=_("Leave empty to go on until the episode ends."),
    )

    def __init__(self, *args: Any, organisation: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["measure"].choices = measure_choices(organisation)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        measure_id, respondent = data.get("measure"), data.get("respondent")
        if measure_id and respondent == Respondent.CLIENT:
            measure = measures.measure(measure_id)
            if not measures.has_text(measure):
                self.add_error(
                    "measure",
                    _(
                        "Clients cannot answer %(name)s: its questions are not installed, as its "
                        "licence does not let Ally ship them. Choose a measure under “%(group)s”, "
                        "or Clinician under “Who answers” for your own rating from the licensed "
                        "paper form. A licensed practice can add the questions (docs/measures.md)."
                    )
                    % {"name": measure.name, "group": CLIENTS_CAN_ANSWER},
                )
        first, last = data.get("first_session"), data.get("last_session")
        if first is not None and last is not None and last < first:
            self.add_error(
                "last_session",
                _("The last session comes before the first; make it %(first)s or later.")
                % {"first": first},
            )
        return data


class SessionForm(forms.Form):
    scheduled_at = forms.DateTimeField(
        label=_("Date and time"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    clinician = MemberChoiceField(
        queryset=Membership.objects.none(), label=_("Led by"), empty_label=None
    )

    def __init__(self, *args: Any, membership: Membership, default: Membership, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["clinician"].queryset = staff_who_hold_episodes(membership, keep=default)
        self.fields["clinician"].initial = default.pk


class SessionStatusForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"),
        choices=[(s, SESSION_STATUS_WORDS[s]) for s in SessionStatus.values],
    )


class EndEpisodeForm(forms.Form):
    ended_on = forms.DateField(label=_("Ended on"), widget=_date_input())
    reason = forms.ChoiceField(
        label=_("Why the episode ended"),
        choices=[(r, END_REASON_WORDS[r]) for r in EndReason.values],
        widget=forms.RadioSelect,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["ended_on"].initial = timezone.localdate()


class CareTeamForm(forms.Form):
    member = MemberChoiceField(queryset=Membership.objects.none(), label=_("Member"))
    role = forms.ChoiceField(
        label=_("Their role on the team"), choices=TeamRole.choices, required=False
    )
    receives_alerts = forms.BooleanField(
        label=_("They receive this episode's alerts"),
        required=False,
        initial=True,
        help_text=_("In their list of alerts and its count. The assigned clinician always does."),
    )

    def __init__(self, *args: Any, membership: Membership, exclude: list[int], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["member"].queryset = staff_who_hold_episodes(membership).exclude(pk__in=exclude)


class ActOnAlertForm(forms.Form):
    done = forms.MultipleChoiceField(
        label=_("What you did"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=(),
    )
    note = TextField(
        rule=NOTE,
        label=_("Note"),
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What was done, and what comes next. Required."),
        error_messages={"required": _("Write what was done about this alert.")},
    )

    def __init__(
        self,
        *args: Any,
        guidance: Guidance | None,
        order: Sequence[Step] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if guidance is None:
            del self.fields["done"]
        else:
            steps = order or guidance.steps
            self.fields["done"].choices = [(step.key, step.done) for step in steps]


class UsedSuggestionsForm(forms.Form):
    """The suggestions used for a signal that raised no alert (a yellow one)."""

    done = forms.MultipleChoiceField(
        label=_("Suggestions you used"),
        widget=forms.CheckboxSelectMultiple,
        choices=(),
        error_messages={"required": _("Tick the suggestions you used.")},
    )
    guidance = forms.CharField(widget=forms.HiddenInput, max_length=40)

    def __init__(self, *args: Any, steps: Sequence[Step], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["done"].choices = [(step.key, step.done) for step in steps]


class CaseloadFilter(forms.Form):
    show = forms.ChoiceField(
        label=_("Episodes"),
        required=False,
        choices=[
            ("open", _("Open")),
            ("ended", _("Ended")),
            ("all", _("Open and ended")),
        ],
    )
