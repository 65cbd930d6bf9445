"""The write path for a client's goals: adding, rewording and closing them, their GAS weights,
the ideal-life exercise, and the clinician's GAS rating of a session.

`actor` is the member who writes, or None when the client writes through their link (the view
has checked the link's grant for the episode). Each change is one transaction with its audit
entry, which names rows by their keys only, never the client's words. Goal progress itself is
an answer like any other: `do_record_response` on a goal-progress administration.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from ally.web import audit
from ally.web.actions.answers import do_create_administration, do_record_response
from ally.web.collect.models import Respondent, Response, Timing
from ally.web.goals.checks import GAS
from ally.web.goals.models import (
    EXERCISE_QUESTIONS,
    LONGEST_ANSWER,
    LONGEST_GOAL,
    MOST_GOALS,
    Goal,
    GoalExercise,
    GoalWording,
)
from ally.web.practice.models import Episode, Membership, Session
from ally.web.scoping import check_can_record


class GoalActionError(Exception):
    """A change to goals that cannot be made as asked; the message says what to do, and `field`
    names the form field it concerns ("" for the whole form)."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def _check(episode: Episode, actor: Membership | None) -> None:
    if actor is not None:
        check_can_record(actor, episode)
    if episode.ended_on is not None:
        raise GoalActionError(_("This episode has ended; its goals can no longer change."))


def _wording(text: str, field: str = "text") -> str:
    text = " ".join(text.split())
    if not text:
        raise GoalActionError(_("Write the goal in a few words."), field=field)
    if len(text) > LONGEST_GOAL:
        raise GoalActionError(
            _("This is longer than %(count)s characters; shorten it.") % {"count": LONGEST_GOAL},
            field=field,
        )
    return text


def _locked(episode: Episode) -> None:
    """Take the episode's row: two goals added at once take turns for their numbers."""
    list(Episode.objects.select_for_update().filter(pk=episode.pk).values_list("pk"))


def _new_wording(goal: Goal, text: str, actor: Membership | None, now: dt.datetime) -> GoalWording:
    latest = goal.wordings.aggregate(v=Max("version"))["v"] or 0
    wording = GoalWording(
        goal=goal,
        version=latest + 1,
        written_at=now,
        written_by=actor,
        client_id=goal.episode.client_id,
    )
    wording.seal_words({"text": text})
    wording.save()
    return wording


def do_add_goal(
    episode: Episode, text: str, *, actor: Membership | None, now: dt.datetime | None = None
) -> Goal:
    """A new goal in the client's words, numbered after the episode's others (at most five)."""
    _check(episode, actor)
    text = _wording(text)
    now = now or timezone.now()
    with transaction.atomic():
        _locked(episode)
        numbers = set(Goal.objects.filter(episode=episode).values_list("number", flat=True))
        if len(numbers) >= MOST_GOALS:
            raise GoalActionError(
                _("An episode has at most %(count)s goals; reword or close one instead.")
                % {"count": MOST_GOALS},
                field="text",
            )
        goal = Goal.objects.create(
            organisation_id=episode.organisation_id,
            episode=episode,
            number=max(numbers, default=0) + 1,
            created_at=now,
        )
        _new_wording(goal, text, actor, now)
        audit.record("goal.added", actor=actor, target=goal)
    return goal


def do_reword_goal(
    goal: Goal, text: str, *, actor: Membership | None, now: dt.datetime | None = None
) -> GoalWording:
    """A new wording of an open goal; the earlier ones are kept as its history."""
    _check(goal.episode, actor)
    text = _wording(text)
    now = now or timezone.now()
    with transaction.atomic():
        _locked(goal.episode)
        goal = Goal.objects.get(pk=goal.pk)
        if not goal.is_open:
            raise GoalActionError(_("This goal is closed; add a new goal instead."))
        current = goal.wordings.order_by("-version").first()
        if current is not None and current.text == text:
            raise GoalActionError(_("This is the goal's wording already."), field="text")
        wording = _new_wording(goal, text, actor, now)
        audit.record("goal.reworded", actor=actor, target=wording)
    return wording


def do_close_goal(goal: Goal, *, actor: Membership, now: dt.datetime | None = None) -> Goal:
    """Close a goal (reached, or no longer wanted): it is no longer rated, and keeps its ratings."""
    _check(goal.episode, actor)
    with transaction.atomic():
        updated = Goal.objects.filter(pk=goal.pk, closed_at__isnull=True).update(
            closed_at=now or timezone.now(), closed_by=actor
        )
        if not updated:
            raise GoalActionError(_("This goal is closed already."))
        goal.refresh_from_db()
        audit.record("goal.closed", actor=actor, target=goal)
    return goal


def do_set_goal_weight(goal: Goal, weight: float | None, *, actor: Membership) -> Goal:
    """The goal's weight in the GAS T-score (None: the default 1)."""
    _check(goal.episode, actor)
    if weight is not None and not 0 <= weight <= 100:
        raise GoalActionError(_("Give a weight from 0 to 100, or none."), field="weight")
    with transaction.atomic():
        Goal.objects.filter(pk=goal.pk).update(weight=weight)
        goal.weight = weight
        audit.record("goal.weighted", actor=actor, target=goal)
    return goal


def do_save_goal_exercise(
    episode: Episode,
    answers: Mapping[str, str],
    now_rating: int | None,
    *,
    actor: Membership | None,
    now: dt.datetime | None = None,
) -> GoalExercise:
    """The ideal-life exercise as answered now (earlier answers are kept)."""
    _check(episode, actor)
    words = {q: " ".join(str(answers.get(q, "")).split()) for q in EXERCISE_QUESTIONS}
    for question, text in words.items():
        if len(text) > LONGEST_ANSWER:
            raise GoalActionError(
                _("This is longer than %(count)s characters; shorten it.")
                % {"count": LONGEST_ANSWER},
                field=question,
            )
    if now_rating is not None and not 0 <= now_rating <= 10:
        raise GoalActionError(_("Give a number from 0 to 10."), field="now")
    if not any(words.values()) and now_rating is None:
        raise GoalActionError(_("Answer at least one of the questions."))
    now = now or timezone.now()
    with transaction.atomic():
        _locked(episode)
        latest = GoalExercise.objects.filter(episode=episode).aggregate(v=Max("version"))["v"]
        exercise = GoalExercise(
            organisation_id=episode.organisation_id,
            episode=episode,
            version=(latest or 0) + 1,
            now=now_rating,
            written_at=now,
            written_by=actor,
            client_id=episode.client_id,
        )
        exercise.seal_words(words)
        exercise.save()
        audit.record("goal_exercise.saved", actor=actor, target=exercise)
    return exercise


def do_rate_goal_attainment(
    session: Session,
    levels: Mapping[int, int | None],
    *,
    actor: Membership,
    idempotency_key: str,
    refresh: bool = True,
    now: dt.datetime | None = None,
) -> Response:
    """The clinician's GAS levels (-2..+2) of the episode's open goals at `session`: a GAS
    administration of the session, answered through the one write path (`refresh` and `now`
    as there)."""
    episode = session.episode
    if episode is None:
        raise GoalActionError(_("Rate goal attainment at a session of one client."))
    _check(episode, actor)
    with transaction.atomic():
        administration = do_create_administration(
            episode,
            GAS,
            actor=actor,
            session=session,
            respondent=Respondent.CLINICIAN,
            timing=Timing.AFTER,
        )
        return do_record_response(
            administration,
            dict(levels),
            idempotency_key=idempotency_key,
            actor=actor,
            refresh=refresh,
            now=now,
        )
