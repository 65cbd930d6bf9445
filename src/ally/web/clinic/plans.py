"""The measurement plan of an episode: which measures, by whom, before or after which sessions."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ally.web.actions.practice import (
    PracticeActionError,
    do_add_planned_measure,
    do_remove_planned_measure,
)
from ally.web.clinic.episodes import episode_of
from ally.web.clinic.forms import PlanEntryForm, add_action_error
from ally.web.clinic.roles import WRITERS, post_only, staff_context
from ally.web.collect.models import PlannedMeasure
from ally.web.collect.planning import administrations_for_session
from ally.web.members import member_view
from ally.web.practice.models import Session, SessionStatus
from ally.web.scoping import get_scoped_or_404, scoped


@member_view(roles=WRITERS)
def plan(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    membership = request.membership
    episode = episode_of(request, pk)
    if episode.ended_on is not None:
        messages.info(request, _("This episode has ended; its plan no longer changes."))
        return redirect("clinic:episode", org=org, pk=pk)
    form = PlanEntryForm(request.POST or None, organisation=request.membership.organisation)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            do_add_planned_measure(
                episode,
                data["measure"],
                respondent=data["respondent"],
                timing=data["timing"],
                first_session=data["first_session"],
                every=data["every"],
                last_session=data["last_session"],
                actor=membership,
            )
        except PracticeActionError as exc:
            add_action_error(form, exc)
        else:
            # Sessions already scheduled get the new measure's forms too.
            upcoming = scoped(Session, membership).filter(
                episode=episode, status=SessionStatus.SCHEDULED
            )
            created = sum(len(administrations_for_session(s, membership)) for s in upcoming)
            message = _("Added to the plan.")
            if created:
                message += " " + ngettext(
                    "%(count)d form was created for the sessions already scheduled.",
                    "%(count)d forms were created for the sessions already scheduled.",
                    created,
                ) % {"count": created}
            messages.success(request, message)
            return redirect("clinic:plan", org=org, pk=pk)
    entries = scoped(PlannedMeasure, membership).filter(plan__episode=episode).order_by("pk")
    return render(
        request,
        "clinic/plan.html",
        staff_context(request, org, episode=episode, form=form, entries=entries),
        status=400 if form.errors else 200,
    )


@member_view(roles=WRITERS)
@post_only
def plan_entry_remove(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    membership = request.membership
    entry = get_scoped_or_404(
        PlannedMeasure.objects.select_related("plan__episode"), membership, pk=pk
    )
    episode_pk = entry.plan.episode_id
    do_remove_planned_measure(entry, actor=membership)
    messages.success(request, _("Removed from the plan. Forms already created stay as they are."))
    return redirect("clinic:plan", org=org, pk=episode_pk)
