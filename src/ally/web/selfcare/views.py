"""A member's own self-care page, /o/<org>/self-care/, for those who work with clients or run
the practice (not researchers): the check-in, the schedule they chose,
their course beside their caseload's alliance, kind prompts when an area falls, and, for those
who see the practice's dashboard, the practice's aggregate once five or more take part."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from ally.web.actions.selfcare import SelfCareError, do_check_in, do_set_schedule
from ally.web.clinic.roles import WRITERS, post_only, sees_dashboard, staff_context
from ally.web.collect import measures
from ally.web.members import member_view
from ally.web.selfcare import readings

PROMPT_WORDS = {
    "energy": _("Your energy is lower than last time. What would give you some back this week?"),
    "workload": _(
        "Your workload feels heavier than last time. Is there something you could hand on, move "
        "or say no to?"
    ),
    "satisfaction": _(
        "Helping feels less satisfying than last time. That happens to everyone who does this "
        "work; talking it through with a colleague or in supervision may help."
    ),
    "stress": _(
        "Work is harder to put down than last time. A small routine that ends the working day "
        "can help, and so can saying it out loud to someone you trust."
    ),
    "support": _("You feel less supported than last time. Who could you reach out to this week?"),
    "own_care": _(
        "There has been less time for yourself than last time. What small thing could you keep "
        "just for you this week?"
    ),
}
AREA_WORDS = {
    "energy": _("Energy"),
    "workload": _("Workload"),
    "satisfaction": _("Satisfaction in helping"),
    "stress": _("Putting work down"),
    "support": _("Support"),
    "own_care": _("Time for own care"),
}
SCHEDULE_WORDS = {
    "": _("No schedule: I check in when I want to"),
    "7": _("Every week"),
    "14": _("Every two weeks"),
    "28": _("Every four weeks"),
}


class CheckInForm(forms.Form):
    note = forms.CharField(
        label=_("A note for yourself (optional)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Only you see it."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        measure = measures.measure(readings.CHECK_IN)
        language = (get_language() or "en").split("-")[0]
        note = self.fields.pop("note")
        for item in measure.items:
            self.fields[f"item_{item.number}"] = forms.TypedChoiceField(
                label=item.text.get(language, item.text["en"]),
                choices=[(str(k), str(k)) for k in range(11)],
                coerce=int,
                widget=forms.RadioSelect(attrs={"class": "scale"}),
                error_messages={"required": _("Choose a number from 0 to 10.")},
            )
        self.fields["note"] = note

    def answers(self) -> list[float | None]:
        return [self.cleaned_data[f"item_{k}"] for k in range(1, 7)]


class ScheduleForm(forms.Form):
    every = forms.ChoiceField(
        label=_("Remind me on this page"),
        choices=list(SCHEDULE_WORDS.items()),
        required=False,
        widget=forms.RadioSelect,
    )


@member_view(roles=WRITERS)
def mine(request: HttpRequest, org: str) -> HttpResponse:
    member = request.membership
    form = CheckInForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            do_check_in(member, form.answers(), note=form.cleaned_data["note"])
        except SelfCareError as refused:
            form.add_error(None, str(refused))
        else:
            messages.success(request, _("Thank you for checking in on yourself."))
            return redirect("selfcare:mine", org=org)
    now = timezone.now()
    check_ins = list(readings.mine(member)[:20])
    schedule = getattr(member, "self_care_schedule", None)
    context = staff_context(
        request,
        org,
        form=form,
        schedule_form=ScheduleForm(initial={"every": str(schedule.every_days) if schedule else ""}),
        check_ins=[
            (c, [(str(AREA_WORDS[a]), c.subscales.get(a)) for a in AREA_WORDS])
            for c in check_ins
            if c.measure_id == readings.CHECK_IN
        ],
        areas=[str(AREA_WORDS[a]) for a in AREA_WORDS],
        prompts=[PROMPT_WORDS[a] for a in readings.fallen_areas(check_ins)],
        due=readings.due_on(member, timezone.localdate()),
        weeks=readings.trend(member, timezone.localdate()),
        aggregate=readings.practice_aggregate(member.organisation, now)
        if sees_dashboard(member)
        else None,
        area_words=AREA_WORDS,
        min_members=readings.MIN_MEMBERS,
    )
    return render(request, "selfcare/mine.html", context, status=400 if form.errors else 200)


@member_view(roles=WRITERS)
@post_only
def schedule(request: HttpRequest, org: str) -> HttpResponse:
    form = ScheduleForm(request.POST)
    every = form.cleaned_data["every"] if form.is_valid() else None
    try:
        do_set_schedule(request.membership, int(every) if every else None)
    except SelfCareError as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, _("Saved."))
    return redirect("selfcare:mine", org=org)
