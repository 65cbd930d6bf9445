"""The group check-in's answers as the core reads them, and a leader's alert for each rupture.

`checkins_of` gives a group's check-ins (the answers in force, amendments applied) as
`ally.feedback.group_checkin.CheckIn`s: member = episode id, session = the group session's number.
`refresh_member_levels` runs in the answer's transaction (`do_record_response`,
`do_amend_response`): it finds ruptures at each level with the practice's rupture rules, the
ones the individual alliance uses, and raises one alert per rupture at the latest answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from ally.feedback.group_checkin import (
    LEVELS,
    CheckIn,
    level_rules,
    level_ruptures,
    member_series,
    reads_levels,
)
from ally.web import audit
from ally.web.alerts.models import Alert, AlertKind
from ally.web.alerts.texts import english_text
from ally.web.collect import measures
from ally.web.collect.models import Administration, Amendment, Response
from ally.web.monitoring.refresh import model_for
from ally.web.practice.models import Episode, Group


def check_in_measures() -> tuple[str, ...]:
    """The library's group check-in measures (Ally's own: ally-group)."""
    return tuple(sorted(m.id for m in measures.library() if reads_levels(m)))


def _current(response_ids: Iterable[int]) -> dict[int, tuple[float, dict[str, float | None]]]:
    """Total and subscales in force by response: the latest amendment, or the response."""
    found = {
        pk: (total, subscales)
        for pk, total, subscales in Response.objects.filter(pk__in=list(response_ids)).values_list(
            "pk", "total", "subscales"
        )
    }
    for response_id, total, subscales in (
        Amendment.objects.filter(response_id__in=list(found))
        .order_by("amended_at", "pk")
        .values_list("response_id", "total", "subscales")
    ):
        found[response_id] = (total, subscales)  # the latest wins
    return found


def checkins_of(group: Group, episode: Episode | None = None) -> list[CheckIn]:
    """The group's completed check-ins (one episode's only, when given), in no order."""
    rows = Response.objects.filter(
        administration__measure_id__in=check_in_measures(),
        administration__session__group_part__group_session__group=group,
    )
    if episode is not None:
        rows = rows.filter(administration__episode=episode)
    keys = list(
        rows.values_list(
            "pk",
            "administration__episode_id",
            "administration__session__group_part__group_session__number",
        )
    )
    current = _current(pk for pk, _, _ in keys)
    checkins = []
    for pk, episode_id, number in keys:
        total, subscales = current[pk]
        checkins.append(CheckIn(episode_id, number, {"total": total, **subscales}))
    return checkins


def refresh_member_levels(administration: Administration, now: dt.datetime) -> list[Alert]:
    """Ruptures at each level in the member's series in this group: one alert for the levels
    whose rupture begins at their latest check-in, naming the level that fell most, raised once
    (and not for an ended episode). A leader reads one alert per member and session, not one
    per level."""
    if administration.measure_id not in check_in_measures() or administration.session_id is None:
        return []
    part = getattr(administration.session, "group_part", None)
    if part is None:
        return []
    episode = administration.episode
    group = part.group_session.group
    if episode.ended_on is not None or group is None:
        return []
    sessions, series = member_series(checkins_of(group, episode), episode.pk)
    if not sessions:
        return []
    model, _fit = model_for(episode.organisation_id)
    found = level_ruptures(series, config=level_rules(model.ruptures))
    latest = len(sessions) - 1
    fell = [level for level in LEVELS if latest in found[level].ruptures]
    if not fell:
        return []
    # "all" where alerts raised one per level before they were merged name their level.
    key = f"group:{group.pk}:all:{sessions[latest]}"
    earlier = [key] + [f"group:{group.pk}:{level}:{sessions[latest]}" for level in LEVELS]
    if Alert.objects.filter(
        episode=episode, kind=AlertKind.RUPTURE, source_key__in=earlier
    ).exists():
        return []
    details = {
        "measure": administration.measure_id,
        "session": part.session.number,
        "subscale": max(fell, key=lambda level: _fall(series[level], latest)),
        "levels": fell,
        "group": group.pk,
        "group_session": sessions[latest],
    }
    alert = Alert.objects.create(
        episode=episode,
        kind=AlertKind.RUPTURE,
        source_key=key,
        message=english_text(str(AlertKind.RUPTURE), details),
        details=details,
        raised_at=now,
    )
    audit.record("alert.raised", actor=None, target=alert)
    return [alert]


def _fall(series: Sequence[float | None], latest: int) -> float:
    """How far the latest score fell from the member's last score before it at that level."""
    before = [value for value in series[:latest] if value is not None]
    now = series[latest]
    return before[-1] - now if before and now is not None else 0.0
