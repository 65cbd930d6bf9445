"""The demo's coaching practice: a few coaches, engagements measured with WHO-5 before each
session, goal progress, and Ally's coaching alliance check-in after it; one engagement paid for
by an employer (a sponsor). Written through the same `do_*` functions as a practice's, with the
demo's own clock and seed."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from ally.web.actions.answers import do_create_administration, do_mark_sent, do_record_response
from ally.web.collect.models import MeasurementPlan, PlannedMeasure, Respondent, Timing
from ally.web.demo_goals import load_goals
from ally.web.practice.models import (
    Client,
    ClientIdentity,
    Episode,
    Membership,
    Organisation,
    Session,
    SessionStatus,
)

SLUG = "coaching"
DOMAIN = "coaching.ally.example"
ENGAGEMENTS = 6
GOAL_WORDS = (
    "Lead my team's weekly meeting with confidence",
    "Decide whether to apply for the head of department post",
    "Leave work by six on four days a week",
    "Give feedback to my colleagues without putting it off",
    "Plan my first year as a freelancer",
    "Say no to projects that do not fit my goals",
)
"""Goals as coaching clients write them (made up for the demo)."""
PLAN = (
    ("who5", Respondent.CLIENT, Timing.BEFORE),
    ("ally-coaching-alliance", Respondent.CLIENT, Timing.AFTER),
)
"""A coaching practice's default plan, besides goal progress (`load_goals`)."""


def load_coaching_demo(
    staff: list[tuple[str, str, str]],
    make_member: Callable[[Organisation, str, str, str], Membership],
    now: dt.datetime,
    seed: int,
) -> Organisation:
    """The coaching practice with its coaches (`staff`: email, name, role, made by
    `make_member(org, email, name, role)`), engagements, answers and goals."""
    draw = random.Random(f"coaching-{seed}")
    with transaction.atomic():
        org = Organisation.objects.create(
            name="Harbour Coaching", slug=SLUG, kind="coaching", client_word="client"
        )
        members = [make_member(org, email, name, role) for email, name, role in staff]
    coaches = [m for m in members if m.role == "clinician"]
    _public_page(org, coaches)
    for number in range(1, ENGAGEMENTS + 1):
        _load_engagement(org, coaches[number % len(coaches)], number, draw, now)
    load_goals(org, now, seed, GOAL_WORDS)
    _sponsor(org, coaches[0], now)
    _self_care(members, draw, now)
    # The answers were recorded without their results (refresh=False, as a bulk load does):
    # work them out once per engagement, so WHO-5 and the check-in show on every page.
    from ally.web.monitoring.refresh import refresh_episode

    for engagement in Episode.objects.filter(organisation=org).order_by("pk"):
        with transaction.atomic():
            refresh_episode(engagement, now)
    return org


def _self_care(members: list[Membership], draw: random.Random, now: dt.datetime) -> None:
    """Every member checks in on themselves every two weeks; one coach's energy and time for
    themselves fall lately, so that their page shows its kind prompts."""
    from ally.web.actions.selfcare import do_check_in, do_set_schedule

    for k, member in enumerate(members):
        do_set_schedule(member, 14)
        level = [draw.randint(5, 8) for _ in range(6)]
        for week in range(12, 0, -2):
            if k == 1 and week == 2:
                level[0], level[5] = max(0, level[0] - 4), max(0, level[5] - 3)
            do_check_in(member, list(level), now=now - dt.timedelta(weeks=week, hours=-k))
            level = [max(0, min(10, v + draw.choice((-1, 0, 0, 1)))) for v in level]


def _public_page(org: Organisation, coaches: list[Membership]) -> None:
    """The practice's public page and its coaches' profiles (made up for the demo)."""
    org.offers = (
        "Leadership and career coaching for people in their first management roles, and for "
        "teams through change. Sessions of an hour, every two weeks, in person or online."
    )
    org.save(update_fields=["offers"])
    profiles = (
        "Coach for new managers since 2015; before that, ten years leading teams in logistics.",
        "Career coach: decisions, transitions and finding work that fits. ICF-credentialed.",
    )
    for coach, profile in zip(coaches, profiles, strict=False):
        coach.profile, coach.on_public_page = profile, True
        coach.save(update_fields=["profile", "on_public_page"])


def _sponsor(org: Organisation, coach: Membership, now: dt.datetime) -> None:
    """Two engagements paid for by an employer: one client agreed to share their progress with
    it, the other did not."""
    from ally.web.actions.sponsors import do_set_sponsor, do_set_sponsor_consent

    engagements = Episode.objects.filter(organisation=org, clinician=coach).order_by("pk")[:2]
    for k, episode in enumerate(engagements):
        sponsorship = do_set_sponsor(episode, "Northwind Logistics Ltd", actor=coach)
        if k == 0 and sponsorship is not None:
            do_set_sponsor_consent(sponsorship, True, now=now)


def _load_engagement(
    org: Organisation, coach: Membership, number: int, draw: random.Random, now: dt.datetime
) -> None:
    sessions_held = draw.randint(3, 7)
    first_day = now.date() - dt.timedelta(days=14 * sessions_held)
    with transaction.atomic():
        client = Client.objects.create(organisation=org, code=f"K{number:03d}")
        ClientIdentity.objects.create(
            client=client, name=f"Coaching client {number}", email=f"client{number}@{DOMAIN}"
        )
        episode = Episode.objects.create(
            organisation=org, client=client, clinician=coach, opened_on=first_day
        )
        plan = MeasurementPlan.objects.create(episode=episode)
        for measure, respondent, timing in PLAN:
            PlannedMeasure.objects.create(
                plan=plan, measure_id=measure, respondent=respondent, timing=timing
            )
        sessions = [
            Session.objects.create(
                organisation=org,
                episode=episode,
                clinician=coach,
                number=k,
                scheduled_at=_at(first_day + dt.timedelta(days=14 * (k - 1)), 16),
                status=SessionStatus.ATTENDED,
                status_changed_at=_at(first_day + dt.timedelta(days=14 * (k - 1)), 17),
            )
            for k in range(1, sessions_held + 1)
        ]
        upcoming = Session.objects.create(
            organisation=org,
            episode=episode,
            clinician=coach,
            number=sessions_held + 1,
            scheduled_at=now + dt.timedelta(days=draw.randint(1, 6)),
        )
    wellbeing = draw.randint(8, 15)  # a WHO-5 raw sum
    for session in sessions:
        wellbeing = max(0, min(25, wellbeing + draw.choice((-2, 0, 1, 1, 2))))
        items = _spread(wellbeing, draw)
        before = do_create_administration(episode, "who5", session=session, timing=Timing.BEFORE)
        do_record_response(
            before,
            items,
            idempotency_key=f"demo-coaching-who5-{number}-{session.number}",
            refresh=False,
            now=min(session.scheduled_at - dt.timedelta(hours=2), now),
        )
        after = do_create_administration(
            episode, "ally-coaching-alliance", session=session, timing=Timing.AFTER
        )
        do_record_response(
            after,
            [draw.randint(6, 10) for _ in range(3)],
            idempotency_key=f"demo-coaching-alliance-{number}-{session.number}",
            refresh=False,
            now=min(session.scheduled_at + dt.timedelta(hours=2), now),
        )
    form = do_create_administration(episode, "who5", session=upcoming, timing=Timing.BEFORE)
    do_mark_sent(form, now)


def _spread(raw: int, draw: random.Random) -> list[int]:
    """Five WHO-5 answers (0-5) that add up to `raw`."""
    items = [0] * 5
    for _ in range(raw):
        open_items = [k for k in range(5) if items[k] < 5]
        items[draw.choice(open_items)] += 1
    return items


def _at(day: dt.date, hour: int) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))
