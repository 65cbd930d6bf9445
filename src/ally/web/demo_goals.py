"""The demo practice's goals: a few running episodes get goals in their clients' words (made up
for the demo), progress on them at every session, goal agreement rated by both sides, and the
clinician's goal attainment (GAS) at the latest session. Written through the same `do_*`
functions as a practice's, with the demo's own clock."""

from __future__ import annotations

import datetime as dt
import random

from ally.web.actions.answers import do_create_administration, do_mark_sent, do_record_response
from ally.web.actions.goals import do_add_goal, do_rate_goal_attainment, do_save_goal_exercise
from ally.web.collect.models import MeasurementPlan, PlannedMeasure, Respondent, Timing
from ally.web.practice.models import Episode, Organisation, SessionStatus

EPISODES = 6
"""Running episodes that get goals."""
GOAL_WORDS = (
    "Sleep through most nights",
    "Go back to work three days a week",
    "Ring a friend once a week",
    "Walk to the shops without panicking",
    "Stop checking the door more than once",
    "Enjoy a meal with my family again",
    "Say no at work when I am full",
    "Get up before nine on weekdays",
)
"""Goals as clients write them (made up for the demo)."""


def load_goals(
    org: Organisation, now: dt.datetime, seed: int, goal_words: tuple[str, ...] = GOAL_WORDS
) -> int:
    """Goals for the first running episodes of the demo; returns how many episodes got some."""
    draw = random.Random(f"goals-{seed}")
    running = Episode.objects.filter(organisation=org, ended_on__isnull=True).order_by("pk")
    chosen = 0
    for episode in running[:EPISODES]:
        if goals_for(episode, draw, now, goal_words) is not None:
            chosen += 1
    return chosen


def goals_for(
    episode: Episode,
    draw: random.Random,
    now: dt.datetime,
    goal_words: tuple[str, ...] = GOAL_WORDS,
    *,
    rate_last: bool = True,
) -> dict[int, int] | None:
    """Goals set at the first held session and rated at each (at the last one only if
    `rate_last`: an episode about to end by plan has them re-rated at its ending), goal
    agreement of both sides and the clinician's goal attainment. Returns the goals' next
    progress by number (None when the episode has had fewer than two sessions)."""
    sessions = list(episode.sessions.order_by("number"))
    attended = [s for s in sessions if s.status == SessionStatus.ATTENDED]
    if len(attended) < 2:
        return None
    plan, _made = MeasurementPlan.objects.get_or_create(episode=episode)
    for measure, respondent in (
        ("goal-progress", Respondent.CLIENT),
        ("goal-agreement", Respondent.CLIENT),
        ("goal-agreement", Respondent.CLINICIAN),
    ):
        PlannedMeasure.objects.create(
            plan=plan, measure_id=measure, respondent=respondent, timing=Timing.AFTER
        )
    first = attended[0].scheduled_at
    do_save_goal_exercise(
        episode,
        {
            "different": "I would sleep, see people and not dread the mornings",
            "first_signs": "Getting up without hitting snooze",
            "who_notices": "My partner, and my colleagues",
            "good_enough": "Three good days a week",
        },
        draw.randint(2, 4),
        actor=None,
        now=first,
    )
    words = draw.sample(goal_words, draw.randint(2, 3))
    for k, text in enumerate(words):
        # The first in the client's own hand, through their link; the rest set together.
        do_add_goal(episode, text, actor=None if k == 0 else episode.clinician, now=first)
    level = {k + 1: draw.randint(1, 3) for k in range(len(words))}
    rated = attended if rate_last else attended[:-1]
    for session in rated:
        ratings = {}
        for number, value in level.items():
            ratings[number] = value
            level[number] = max(0, min(10, value + draw.choice((-1, 0, 1, 1, 1))))
        at = session.scheduled_at + dt.timedelta(hours=1)
        answered = do_create_administration(
            episode, "goal-progress", session=session, timing=Timing.AFTER
        )
        do_record_response(
            answered,
            ratings,
            idempotency_key=f"demo-goals-{episode.pk}-{session.number}",
            refresh=False,
            now=min(at, now),
        )
        if session.number % 3 == 1:
            for respondent in (Respondent.CLIENT, Respondent.CLINICIAN):
                agreement = do_create_administration(
                    episode,
                    "goal-agreement",
                    session=session,
                    respondent=respondent,
                    timing=Timing.AFTER,
                )
                clinician_side = respondent == Respondent.CLINICIAN
                do_record_response(
                    agreement,
                    [draw.randint(3 if clinician_side else 2, 4) for _ in range(3)],
                    idempotency_key=f"demo-agree-{episode.pk}-{session.number}-{respondent}",
                    actor=episode.clinician if clinician_side else None,
                    refresh=False,
                    now=min(at, now),
                )
    do_rate_goal_attainment(
        attended[-1],
        {number: draw.choice((-1, 0, 0, 1)) for number in level},
        actor=episode.clinician,
        idempotency_key=f"demo-gas-{episode.pk}",
        refresh=False,
        now=min(attended[-1].scheduled_at + dt.timedelta(hours=2), now),
    )
    upcoming = [s for s in sessions if s.status == SessionStatus.SCHEDULED]
    if upcoming:
        form = do_create_administration(
            episode,
            "goal-progress",
            session=upcoming[0],
            timing=Timing.AFTER,
            expires_at=upcoming[0].scheduled_at + dt.timedelta(hours=14),
        )
        do_mark_sent(form, now)
    return level
