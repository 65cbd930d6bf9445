"""The staff's goals page of one episode: add, reword and close goals, weigh them for GAS, the
ideal-life exercise on screen, and the GAS levels of a session. Every write is a `do_*` call."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from ally.web.actions.goals import (
    GoalActionError,
    do_add_goal,
    do_close_goal,
    do_rate_goal_attainment,
    do_reword_goal,
    do_save_goal_exercise,
    do_set_goal_weight,
)
from ally.web.clinic.episodes import episode_of
from ally.web.clinic.forms import add_action_error
from ally.web.clinic.roles import can_write, staff_context
from ally.web.collect.errors import InvalidAnswersError
from ally.web.goals.charts import goal_name
from ally.web.goals.course import Goals, episode_goals
from ally.web.goals.forms import AttainmentForm, ExerciseForm, GoalForm, WeightForm
from ally.web.goals.models import EXERCISE_QUESTIONS, Goal
from ally.web.members import member_view
from ally.web.practice.models import Episode, Session
from ally.web.scoping import check_can_record, get_scoped_or_404, scoped
from ally.web.text import submission_key

ACTIONS = ("add", "reword", "close", "weight", "exercise", "adopt", "gas")


def _attainment_form(
    request: HttpRequest, episode: Episode, goals: Goals, data: Any = None
) -> AttainmentForm:
    sessions = (
        scoped(Session, request.membership)
        .filter(episode=episode, number__isnull=False)
        .order_by("-number")
    )
    choices = [
        (
            s.number,
            _("Session %(number)s, %(date)s") % {"number": s.number, "date": s.scheduled_at.date()},
        )
        for s in sessions
    ]
    labels = [(g.number, goal_name(g.number)) for g in goals.open_goals]
    return AttainmentForm(data, sessions=choices, goals=labels, prefix="gas")


def _goal(request: HttpRequest, episode: Episode) -> Goal:
    return get_scoped_or_404(
        Goal, request.membership, episode=episode, number=request.POST.get("goal")
    )


def _act(
    request: HttpRequest, episode: Episode, goals: Goals, action: str
) -> tuple[str, forms.Form | None]:
    """Carry out one posted action: a message on success, or the form with its errors."""
    membership = request.membership
    if action == "add":
        form: forms.Form = GoalForm(request.POST, prefix="add")
        if form.is_valid():
            try:
                do_add_goal(episode, form.cleaned_data["text"], actor=membership)
                return _("The goal is added."), None
            except GoalActionError as exc:
                add_action_error(form, exc)
        return "", form
    if action == "adopt":
        question = request.POST.get("question", "")
        if question not in EXERCISE_QUESTIONS or not goals.exercise_words:
            return "", None
        do_add_goal(episode, goals.exercise_words[question], actor=membership)
        return _("The goal is added."), None
    if action == "reword":
        goal = _goal(request, episode)
        form = GoalForm(request.POST, prefix=f"goal{goal.number}")
        if form.is_valid():
            try:
                do_reword_goal(goal, form.cleaned_data["text"], actor=membership)
                return _("The goal is reworded; its earlier wording is kept."), None
            except GoalActionError as exc:
                add_action_error(form, exc)
        return "", form
    if action == "close":
        do_close_goal(_goal(request, episode), actor=membership)
        return _("The goal is closed."), None
    if action == "weight":
        goal = _goal(request, episode)
        form = WeightForm(request.POST, prefix=f"weight{goal.number}")
        if form.is_valid():
            do_set_goal_weight(goal, form.cleaned_data["weight"], actor=membership)
            return _("The weight is saved."), None
        return "", form
    if action == "exercise":
        form = ExerciseForm(request.POST, prefix="exercise")
        if form.is_valid():
            data = form.cleaned_data
            try:
                do_save_goal_exercise(
                    episode, {q: data[q] for q in EXERCISE_QUESTIONS}, data["now"], actor=membership
                )
                return _("The answers are saved."), None
            except GoalActionError as exc:
                add_action_error(form, exc)
        return "", form
    # gas
    form = _attainment_form(request, episode, goals, request.POST)
    if form.is_valid():
        session = get_scoped_or_404(
            Session, membership, episode=episode, number=form.cleaned_data["session"]
        )
        levels = {n: v for n, v in form.levels().items() if v is not None}
        if not levels:
            form.add_error(None, _("Rate at least one goal."))
            return "", form
        key = submission_key(request.POST.get("key", "")) or str(uuid.uuid4())
        try:
            do_rate_goal_attainment(session, levels, actor=membership, idempotency_key=key)
            return _("Goal attainment is saved."), None
        except (GoalActionError, InvalidAnswersError) as exc:
            form.add_error(None, str(exc))
    return "", form


@member_view()
def goals_page(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    """The episode's goals with their history; for writers, the forms that change them."""
    episode = episode_of(request, pk)
    membership = request.membership
    goals = episode_goals(membership, episode)
    failed: forms.Form | None = None
    failed_action = ""
    if request.method == "POST":
        check_can_record(membership, episode)
        action = request.POST.get("action", "")
        if action not in ACTIONS:
            return redirect("goals:episode", org=org, pk=pk)
        try:
            done, failed = _act(request, episode, goals, action)
        except GoalActionError as exc:
            messages.error(request, str(exc))
            return redirect("goals:episode", org=org, pk=pk)
        if failed is None:
            if done:
                messages.success(request, done)
            return redirect("goals:episode", org=org, pk=pk)
        failed_action = action
    writable = can_write(membership) and episode.ended_on is None
    context = staff_context(
        request,
        org,
        episode=episode,
        goals=goals,
        writable=writable,
        add_form=failed if failed_action == "add" else GoalForm(prefix="add"),
        exercise_form=failed
        if failed_action == "exercise"
        else ExerciseForm(prefix="exercise", initial=_exercise_initial(goals)),
        gas_form=failed if failed_action == "gas" else _attainment_form(request, episode, goals),
        reword_forms={
            g.number: (
                failed
                if failed_action == "reword"
                and failed is not None
                and failed.prefix == f"goal{g.number}"
                else GoalForm(prefix=f"goal{g.number}", initial={"text": g.text or ""})
            )
            for g in goals.open_goals
        },
        weight_forms={
            g.number: WeightForm(prefix=f"weight{g.number}", initial={"weight": g.goal.weight})
            for g in goals.open_goals
        },
        failed=failed,
        gas_key=str(uuid.uuid4()),
    )
    return render(request, "goals/page.html", context, status=400 if failed is not None else 200)


def _exercise_initial(goals: Goals) -> dict[str, Any]:
    if goals.exercise is None or goals.exercise_words is None:
        return {}
    return {**goals.exercise_words, "now": goals.exercise.now}
