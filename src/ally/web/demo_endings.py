"""The demo practice's endings, recorded as a practice's are: through `do_end_episode` on the
day of the last session, with the demo's own clock.

A planned ending sends its forms (actions/endings.py); most clients answer them within days:
the final measure held back from the last session, their goals re-rated (the first planned
endings had goals) and the end-of-therapy review, in words made up for the demo. The clinician
writes a closing summary at a planned ending, and at some unplanned ones. One planned ending
has its follow-up answered weeks later, the latest has one still to come.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from dataclasses import dataclass

from django.utils import timezone

from ally.web.actions.answers import do_mark_sent, do_record_response
from ally.web.actions.endings import (
    FollowUpChoice,
    do_record_review,
    do_send_follow_up,
    outcome_measures,
)
from ally.web.actions.practice import do_end_episode
from ally.web.collect import measures
from ally.web.collect.models import Respondent, Response
from ally.web.demo_goals import goals_for
from ally.web.endings.models import EndingForm, FollowUp, Purpose
from ally.web.practice.models import EndReason, Episode

Answers = Mapping[int, float | None]

GOALS_AT_THE_END = 3
"""Planned endings whose episodes had goals, re-rated at the ending."""
UNANSWERED_SHARE = 0.2
"""Planned endings whose client has not answered the ending's forms."""
STOPPED_SUMMARY_EVERY = 2
"""Every second unplanned ending (the first included) has a closing summary."""
ENDING_HOUR = 17
ANSWER_HOURS = (2, 4 * 24)
"""How long after the ending the client answers its forms."""
REVIEW_WORDS = {
    "helped": (
        "Being listened to without being judged",
        "Writing down my worries before bed",
        "Planning one small thing for each day",
        "Understanding why the panic comes",
        "Practising saying no, first in the sessions",
    ),
    "hindered": (
        "",
        "",
        "Some weeks the sessions were too far apart",
        "Homework was hard to fit in with the children",
    ),
    "keep_doing": (
        "The evening walk and the worry list",
        "Ringing a friend when things get heavy",
        "Going to bed at the same time",
        "Noticing the first signs and slowing down",
    ),
}
"""Review answers as clients might write them (made up for the demo)."""
PLANNED_SUMMARIES = (
    "We worked on low mood and withdrawal through activity planning. Mood and sleep improved; "
    "the client keeps a weekly plan and knows the early signs of a dip.",
    "Work on worry and avoidance with graded exposure. The client now travels alone and uses "
    "worry time; we agreed she would get in touch if the panic came back.",
    "Short work on work stress and boundaries. The client says no more often and sleeps "
    "better; a relapse-prevention plan was written together.",
)
STOPPED_SUMMARIES = (
    "The client stopped attending after the last session; two messages were left. Work so "
    "far was on sleep and low mood.",
    "Ended without a final session. Scores had not changed reliably; a referral to the GP was "
    "suggested in the last contact.",
)


@dataclass(frozen=True)
class Ended:
    """An episode of the simulation that ended, loaded but not yet ended in Ally."""

    episode: Episode
    reason: str
    last_day: dt.date
    held: tuple[tuple[str, Answers], ...] = ()
    """The last session's client outcome answers, held back to be the ending's final measures."""


def _at(day: dt.date, hour: int) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def _review_change(episode: Episode) -> int:
    """The overall change a client would report, from their first and last outcome score."""
    scores = (
        Response.objects.filter(
            administration__episode=episode,
            administration__respondent=Respondent.CLIENT,
            administration__measure_id__in=outcome_measures(),
        )
        .order_by("administration__session__number", "recorded_at")
        .values_list("administration__measure_id", "total")
    )
    found = list(scores)
    if not found:
        return 0
    measure_id = found[0][0]
    totals = [total for m, total in found if m == measure_id]
    sign = measures.measure(measure_id).direction.sign
    first, last = totals[0], totals[-1]
    better = (last - first) * sign / max(abs(first), 1.0)  # sign: +1 when a rise is better
    for bound, change in ((0.5, 3), (0.25, 2), (0.05, 1), (-0.05, 0)):
        if better > bound:
            return change
    return -1


def _follow_up_choice(ended: Ended, now: dt.datetime, *, answered: bool) -> FollowUpChoice | None:
    """A follow-up of the episode's first outcome measure: due some days before the demo's
    today if it is to be answered, or some weeks after it."""
    measure_id = next((m for m, _answers in ended.held), None)
    if measure_id is None:
        return None
    weeks_since = (timezone.localdate(now) - ended.last_day).days // 7
    weeks = weeks_since - 1 if answered else weeks_since + 4
    if not 1 <= weeks <= 52:
        return None
    return FollowUpChoice((measure_id,), weeks)


def load_endings(ended: list[Ended], now: dt.datetime, seed: int) -> None:
    """End each episode as its clinician would, and let its client answer what was sent."""
    draw = random.Random(f"endings-{seed}")
    planned = sorted(
        (e for e in ended if e.reason == str(EndReason.PLANNED)), key=lambda e: e.episode.pk
    )
    with_goals = {e.episode.pk for e in planned[:GOALS_AT_THE_END]}
    by_day = sorted(planned, key=lambda e: e.last_day)
    long_ago = next((e for e in by_day if (timezone.localdate(now) - e.last_day).days >= 21), None)
    latest = by_day[-1] if by_day else None
    stopped = 0
    for item in sorted(ended, key=lambda e: e.episode.pk):
        episode = item.episode
        at = _at(item.last_day, ENDING_HOUR)
        is_planned = item.reason == str(EndReason.PLANNED)
        goals = None
        if episode.pk in with_goals:
            goals = goals_for(
                episode, random.Random(f"goals-ending-{seed}-{episode.pk}"), at, rate_last=False
            )
        summary = ""
        if is_planned:
            summary = draw.choice(PLANNED_SUMMARIES)
        else:
            if stopped % STOPPED_SUMMARY_EVERY == 0:
                summary = draw.choice(STOPPED_SUMMARIES)
            stopped += 1
        follow_up = None
        if item is long_ago or (item is latest and latest is not long_ago):
            follow_up = _follow_up_choice(item, now, answered=item is long_ago)
        do_end_episode(
            episode,
            item.last_day,
            item.reason,
            actor=episode.clinician,
            summary=summary,
            follow_up=follow_up,
            now=at,
        )
        if is_planned:
            _answer_the_ending(item, goals, at, now, draw, seed)
        if item is long_ago and follow_up is not None:
            _answer_the_follow_up(item, now, seed)


def _answer_the_ending(
    item: Ended,
    goals: dict[int, int] | None,
    at: dt.datetime,
    now: dt.datetime,
    draw: random.Random,
    seed: int,
) -> None:
    """The ending's forms go out in one message at once; most clients answer within days,
    each form a few minutes after the one before."""
    forms = [
        f.administration
        for f in EndingForm.objects.filter(ending__episode=item.episode)
        .select_related("administration")
        .order_by("administration__pk")
    ]
    for administration in forms:
        do_mark_sent(administration, at)
    answered_at = at + dt.timedelta(hours=draw.randint(*ANSWER_HOURS))
    step = dt.timedelta(minutes=4)
    if draw.random() < UNANSWERED_SHARE or answered_at + step * len(forms) >= now:
        return
    held = dict(item.held)
    key = f"demo-ending-{seed}-{item.episode.pk}"
    for number, administration in enumerate(forms):
        when = answered_at + step * number
        purpose = administration.ending_form.purpose
        if purpose == Purpose.REVIEW:
            do_record_review(
                administration,
                _review_change(item.episode),
                {question: draw.choice(words) for question, words in REVIEW_WORDS.items()},
                idempotency_key=f"{key}-review",
                now=when,
            )
        elif purpose == Purpose.GOALS and goals is not None:
            do_record_response(
                administration,
                goals,
                idempotency_key=f"{key}-goals",
                refresh=False,
                now=when,
            )
        elif purpose == Purpose.FINAL and administration.measure_id in held:
            do_record_response(
                administration,
                held[administration.measure_id],
                idempotency_key=f"{key}-{administration.measure_id}",
                refresh=False,
                now=when,
            )


def _answer_the_follow_up(item: Ended, now: dt.datetime, seed: int) -> None:
    """The follow-up went out when due and was answered the next day: much as at the end, one
    point apart on the first item."""
    follow_up = FollowUp.objects.get(ending__episode=item.episode)
    for form in do_send_follow_up(follow_up, follow_up.due_at):
        administration = form.administration
        do_mark_sent(administration, follow_up.due_at)
        answers = dict(item.held).get(administration.measure_id)
        if answers is None:
            continue
        later = dict(answers)
        if (first := later.get(1)) is not None and first >= 1:
            later[1] = first - 1
        do_record_response(
            administration,
            later,
            idempotency_key=f"demo-follow-up-{seed}-{item.episode.pk}",
            refresh=False,
            now=min(follow_up.due_at + dt.timedelta(hours=26), now - dt.timedelta(minutes=5)),
        )
