"""What a member reads of their own self-care, and the one thing the practice may read.

`mine` is the only query of a member's check-ins, and it takes the member themself. The
practice's `practice_aggregate` gives means only when at least MIN_MEMBERS members took part in
the period, each counted once by their latest check-in, so that no one's answers can be read
off it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from statistics import mean
from typing import Any

from django.db.models import QuerySet

from ally.scoring import rules
from ally.web.collect import measures
from ally.web.collect.models import Administration
from ally.web.practice.models import Membership, Organisation
from ally.web.selfcare.models import CheckIn, Schedule

CHECK_IN = "ally-self-care"
SCHEDULES = (7, 14, 28)
"""The schedules a member may choose: every week, every two weeks, every four weeks."""
FALL = 3
"""A fall of this many points (of 10) in one area since the check-in before brings a prompt."""
MIN_MEMBERS = 5
"""The practice sees an aggregate only when at least this many members took part (issue 14)."""
AGGREGATE_WEEKS = 8
TREND_WEEKS = 12

AREAS = ("energy", "workload", "satisfaction", "stress", "support", "own_care")
"""The check-in's areas (its subscales, one question each, ally-self-care.yaml)."""


def mine(member: Membership) -> QuerySet[CheckIn]:
    """The member's own check-ins, newest first: the only way Ally reads them."""
    return CheckIn.objects.filter(member=member).order_by("-answered_at", "-pk")


def due_on(member: Membership, today: dt.date) -> dt.date | None:
    """When the member's next check-in is due on their schedule (None: no schedule)."""
    schedule = Schedule.objects.filter(member=member).first()
    if schedule is None:
        return None
    last = mine(member).filter(measure_id=CHECK_IN).values_list("answered_at", flat=True).first()
    if last is None:
        return today
    return last.date() + dt.timedelta(days=schedule.every_days)


def fallen_areas(check_ins: list[CheckIn]) -> list[str]:
    """The areas of the latest check-in that fell by FALL or more since the one before."""
    ours = [c for c in check_ins if c.measure_id == CHECK_IN]
    if len(ours) < 2:
        return []
    latest, before = ours[0].subscales, ours[1].subscales
    return [
        area
        for area in AREAS
        if latest.get(area) is not None
        and before.get(area) is not None
        and before[area] - latest[area] >= FALL
    ]


@dataclass(frozen=True)
class Week:
    starts_on: dt.date
    own: float | None
    """The mean of the member's check-ins that week (0-10)."""
    alliance: float | None
    """The mean client alliance score of the member's caseload that week, in % of its range."""
    alliance_n: int


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def trend(member: Membership, today: dt.date) -> list[Week]:
    """The member's own course beside their caseload's alliance, week by week."""
    first = _monday(today) - dt.timedelta(weeks=TREND_WEEKS - 1)
    own: dict[dt.date, list[float]] = {}
    for check_in in mine(member).filter(measure_id=CHECK_IN):
        day = _monday(check_in.answered_at.date())
        if day >= first:
            own.setdefault(day, []).append(check_in.total)
    alliance: dict[dt.date, list[float]] = {}
    answered = (
        Administration.objects.filter(
            episode__clinician=member,
            respondent="client",
            response__isnull=False,
            completed_at__date__gte=first,
        )
        .select_related("response")
        .only("measure_id", "completed_at", "response")
    )
    for administration in answered:
        try:
            measure = measures.measure(administration.measure_id)
        except KeyError:
            continue
        if measure.kind != "alliance" or administration.completed_at is None:
            continue
        low, high = rules.score_range(measure)
        share = 100 * (administration.response.current().total - low) / (high - low)
        alliance.setdefault(_monday(administration.completed_at.date()), []).append(share)
    weeks = [first + dt.timedelta(weeks=k) for k in range(TREND_WEEKS)]
    return [
        Week(
            day,
            round(mean(own[day]), 1) if day in own else None,
            round(mean(alliance[day]), 0) if day in alliance else None,
            len(alliance.get(day, [])),
        )
        for day in weeks
    ]


@dataclass(frozen=True)
class Aggregate:
    members: int
    means: dict[str, float] | None
    """Per area, the mean of each member's latest check-in; None below MIN_MEMBERS."""


def practice_aggregate(organisation: Organisation, now: dt.datetime) -> Aggregate:
    since = now - dt.timedelta(weeks=AGGREGATE_WEEKS)
    latest: dict[int, dict[str, Any]] = {}
    for member_id, subscales in (
        CheckIn.objects.filter(
            member__organisation=organisation,
            member__is_active=True,
            measure_id=CHECK_IN,
            answered_at__gte=since,
        )
        .order_by("member_id", "-answered_at", "-pk")
        .values_list("member_id", "subscales")
    ):
        latest.setdefault(member_id, subscales)
    if len(latest) < MIN_MEMBERS:
        return Aggregate(len(latest), None)
    means = {
        area: round(mean(float(s[area]) for s in latest.values() if s.get(area) is not None), 1)
        for area in AREAS
    }
    return Aggregate(len(latest), means)


def proqol_band(subscale_score: float) -> str:
    """A ProQOL 5 subscale's band on the 2009-2012 form: 22 or less low, 23-41 moderate, 42 or
    more high (the same for all three subscales) [S: form copies on jotform and fill.io]."""
    if subscale_score <= 22:
        return "low"
    return "moderate" if subscale_score <= 41 else "high"
