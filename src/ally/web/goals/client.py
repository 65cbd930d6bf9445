"""The client's side of goals, under /a/goals/: setting and rewording their goals and the
ideal-life exercise, in the visit their link opened.

The link's grant is the only authority, as on every client page: the visit must hold a form
that rates the episode's goals and still takes answers. The client's words go into the sealed
rows only; they are never put in a URL, a log line or the session.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from ally.web.actions.goals import (
    GoalActionError,
    do_add_goal,
    do_reword_goal,
    do_save_goal_exercise,
)
from ally.web.clinic.forms import add_action_error
from ally.web.goals.checks import RATES_GOALS
from ally.web.goals.forms import ClientGoalForm, ExerciseForm
from ally.web.goals.models import EXERCISE_QUESTIONS, MOST_GOALS, Goal, GoalExercise
from ally.web.practice.models import Episode
from ally.web.respond.views import PAGE_REFERRER_POLICY, client_page
from ally.web.respond.visit import Visit


def _episode(visit: Visit) -> Episode | None:
    """The episode whose goals this visit may set: one with a goal form still taking answers."""
    now = timezone.now()
    for administration in visit.administrations():
        if administration.measure_id in RATES_GOALS and administration.takes_answers(now):
            return administration.episode
    return None


def _goals(episode: Episode) -> list[tuple[Goal, str]]:
    found = []
    for goal in (
        Goal.objects.filter(episode=episode, closed_at__isnull=True)
        .prefetch_related("wordings")
        .order_by("number")
    ):
        wordings = sorted(goal.wordings.all(), key=lambda w: w.version)
        found.append((goal, wordings[-1].text if wordings else ""))
    return found


@client_page(PAGE_REFERRER_POLICY, ("GET", "HEAD", "POST"))
def goals(request: HttpRequest) -> HttpResponse:
    """The client's goals: reword one, add one (up to five), or take one from the exercise."""
    visit = Visit(request.session)
    episode = _episode(visit)
    if episode is None:
        return redirect("respond:answer")
    current = _goals(episode)
    count = Goal.objects.filter(episode=episode).count()
    exercise = GoalExercise.objects.filter(episode=episode).order_by("-version").first()
    words = exercise.words() if exercise is not None else {}
    form = ClientGoalForm(prefix="new")
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "reword":
                number = request.POST.get("goal", "")
                goal = next((g for g, _text in current if str(g.number) == number), None)
                reword = ClientGoalForm(request.POST, prefix=f"goal{number}")
                if goal is not None and reword.is_valid():
                    do_reword_goal(goal, reword.cleaned_data["text"], actor=None)
                    messages.success(request, _("Your goal is saved."))
                    return redirect("goals_client:goals")
            elif action == "adopt" and request.POST.get("question") in EXERCISE_QUESTIONS:
                do_add_goal(episode, words.get(request.POST["question"], ""), actor=None)
                messages.success(request, _("Your goal is saved."))
                return redirect("goals_client:goals")
            elif action == "add":
                form = ClientGoalForm(request.POST, prefix="new")
                if form.is_valid():
                    do_add_goal(episode, form.cleaned_data["text"], actor=None)
                    messages.success(request, _("Your goal is saved."))
                    return redirect("goals_client:goals")
                status = 400
        except GoalActionError as exc:
            add_action_error(form, exc)
            status = 400
    return render(
        request,
        "goals/client_goals.html",
        {
            "organisation": episode.organisation,
            "goals": [
                (goal, ClientGoalForm(prefix=f"goal{goal.number}", initial={"text": text}))
                for goal, text in current
            ],
            "form": form,
            "can_add": count < MOST_GOALS,
            "exercise_words": [
                (question, words[question])
                for question in EXERCISE_QUESTIONS
                if words.get(question)
            ],
        },
        status=status,
    )


@client_page(PAGE_REFERRER_POLICY, ("GET", "HEAD", "POST"))
def exercise(request: HttpRequest) -> HttpResponse:
    """The ideal-life exercise, in Ally's own words; its answers can become goals."""
    visit = Visit(request.session)
    episode = _episode(visit)
    if episode is None:
        return redirect("respond:answer")
    form = ExerciseForm(request.POST or None, client=True, prefix="exercise")
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            do_save_goal_exercise(
                episode, {q: data[q] for q in EXERCISE_QUESTIONS}, data["now"], actor=None
            )
        except GoalActionError as exc:
            add_action_error(form, exc)
        else:
            messages.success(request, _("Your answers are saved."))
            return redirect("goals_client:goals")
    return render(
        request,
        "goals/client_exercise.html",
        {"organisation": episode.organisation, "form": form},
        status=400 if form.errors else 200,
    )
