"""What the group page shows, computed from the group's check-ins by `ally.feedback.group_checkin`.

Who sees what (docs/groups.md):
- the group's leaders see everything: the group's means at each level with their n, every
  member's levels by session with ruptures marked, members off track on their own outcome
  measures, and members drifting away from a group that holds;
- members who see the whole practice's episodes anyway (supervisors, administrators) see the
  member rows too, but the group's means like anyone who is not a leader;
- anyone else who sees the group sees its means only, withheld at a session where fewer than
  `SMALLEST_SHOWN` members answered.
Members of the group never see this page or each other's answers: clients have no account.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import F
from django.utils.translation import gettext_lazy as _

from ally.feedback.group_checkin import (
    LEVELS,
    SCALES,
    SMALLEST_SHOWN,
    CheckIn,
    Drift,
    SessionMean,
    drifting,
    level_rules,
    level_ruptures,
    member_series,
    session_means,
)
from ally.web.actions.groups import leads
from ally.web.apiclients.models import ApiClient
from ally.web.collect.support import off_track_since
from ally.web.groups.levels import checkins_of
from ally.web.groups.models import CheckInNote
from ally.web.monitoring.models import SessionFeedback
from ally.web.monitoring.refresh import model_for
from ally.web.practice.models import Group, GroupMember, Membership, Session
from ally.web.privacy.keys import KeyRing
from ally.web.scoping import Capability, can

LEVEL_WORDS = {
    "total": _("All six"),
    "leader": _("Leader"),
    "members": _("Other members"),
    "group": _("Group as a whole"),
    "bond": _("Bond"),
    "work": _("Working together"),
}


@dataclass(frozen=True)
class Cell:
    """One member's levels at one group session."""

    scores: dict[str, float | None]
    ruptures: tuple[str, ...] = ()
    """The levels at which a rupture begins here."""
    repairs: tuple[str, ...] = ()
    note: str = ""
    """What the member wrote about what made it harder to take part, if anything."""

    def level_items(self) -> list[tuple[str, str, float | None, bool]]:
        return [
            (level, str(LEVEL_WORDS[level]), self.scores.get(level), level in self.ruptures)
            for level in LEVELS
        ]


@dataclass
class MemberRow:
    place: GroupMember
    cells: list[Cell | None] = field(default_factory=list)
    """One per group session, None where the member did not answer."""
    attended: int = 0
    off_track_since: int | None = None
    drift: Drift | None = None


@dataclass
class GroupView:
    group: Group
    is_leader: bool
    sees_members: bool
    sessions: list[Session]
    means: list[SessionMean]
    smallest: int
    rows: list[MemberRow]
    drifts: list[MemberRow]
    off_track: list[MemberRow]

    def mean_rows(self) -> list[dict[str, Any]]:
        """The means as a table: one row per session, a cell per scale."""
        by_session: dict[int, dict[str, SessionMean]] = {}
        for mean in self.means:
            by_session.setdefault(mean.session, {})[mean.scale] = mean
        return [
            {"session": number, "cells": [by_session[number].get(s) for s in SCALES]}
            for number in sorted(by_session)
        ]


def sees_member_rows(member: Membership | ApiClient, group: Group) -> bool:
    """The group's leaders, and members who see every episode with names (supervisors)."""
    whole = can(member, Capability.SEE_WHOLE_PRACTICE) and can(member, Capability.SEE_IDENTITY)
    return whole or leads(member, group)


def group_view(group: Group, member: Membership | ApiClient) -> GroupView:
    is_leader = leads(member, group)
    sees_members = sees_member_rows(member, group)
    smallest = 1 if is_leader else SMALLEST_SHOWN
    sessions = list(group.sessions.order_by("number"))
    checkins = checkins_of(group)
    means = session_means(checkins, SCALES, smallest=smallest)
    rows: list[MemberRow] = []
    drifts: list[MemberRow] = []
    off_track: list[MemberRow] = []
    if sees_members:
        rows = _member_rows(group, sessions, checkins)
        found = {d.member: d for d in drifting(checkins, "group")}
        for row in rows:
            row.drift = found.get(row.place.episode_id)
        drifts = [row for row in rows if row.drift is not None]
        off_track = [row for row in rows if row.off_track_since is not None]
    return GroupView(
        group, is_leader, sees_members, sessions, means, smallest, rows, drifts, off_track
    )


def _member_rows(group: Group, sessions: list[Session], checkins: list[CheckIn]) -> list[MemberRow]:
    numbers = [s.number for s in sessions]
    model, _fit = model_for(group.organisation_id)
    config = level_rules(model.ruptures)
    places = list(group.members.select_related("episode__client").order_by("joined_on", "pk"))
    feedback = SessionFeedback.objects.filter(
        episode_id__in=[p.episode_id for p in places], rater="client"
    )
    by_episode: dict[int, list[SessionFeedback]] = {}
    for row in feedback:
        by_episode.setdefault(row.episode_id, []).append(row)
    attended = {}
    for place in places:
        attended[place.episode_id] = place.episode.attendances.filter(
            session__group=group, status="attended"
        ).count()
    written = list(
        CheckInNote.objects.filter(administration__session__group_part__group_session__group=group)
        .select_related("administration__episode")
        .annotate(number=F("administration__session__group_part__group_session__number"))
    )
    # The members' words are sealed: their data keys, read in one query, open them.
    keys = KeyRing(note.administration.episode.client_id for note in written)
    notes = {
        (note.administration.episode_id, note.number): note.words(
            keys.key(note.administration.episode.client_id)
        )["text"]
        for note in written
    }
    rows = []
    for place in places:
        episode = place.episode
        answered, series = member_series(checkins, episode.pk)
        found = level_ruptures(series, config=config, ended=episode.ended_on is not None)
        cells: dict[int, Cell] = {}
        for position, number in enumerate(answered):
            scores = {scale: series[scale][position] for scale in SCALES}
            began = tuple(level for level in LEVELS if position in found[level].ruptures)
            repaired = tuple(level for level in LEVELS if position in found[level].repairs)
            cells[number] = Cell(scores, began, repaired, notes.get((episode.pk, number), ""))
        rows.append(
            MemberRow(
                place=place,
                cells=[cells.get(n) for n in numbers if n is not None],
                attended=attended[episode.pk],
                off_track_since=off_track_since(by_episode.get(episode.pk, [])),
            )
        )
    return rows


def mean_chart_spec(view: GroupView, title: str) -> dict[str, Any] | None:
    """The group's mean at each level by session, as a Vega-Lite spec (None without data)."""
    from ally.web.clinic.charts import HEIGHT, SCHEMA, TEXT_CONFIG, WIDTH

    values = [
        {"session": m.session, "level": str(LEVEL_WORDS[m.scale]), "mean": m.mean, "n": m.n}
        for m in view.means
        if m.scale in LEVELS and m.mean is not None
    ]
    if not values:
        return None
    level = {"field": "level", "type": "nominal", "title": str(_("Level"))}
    return {
        "$schema": SCHEMA,
        "title": title,
        "width": WIDTH,
        "height": HEIGHT,
        "data": {"values": values},
        "encoding": {
            "x": {"field": "session", "type": "ordinal", "title": str(_("Group session"))},
            "y": {
                "field": "mean",
                "type": "quantitative",
                "title": str(_("Mean (0–10)")),
                "scale": {"domain": [0, 10]},
            },
            "color": level,
        },
        # Lines dashed and points shaped by level, so colour is never the only carrier
        # (WCAG 1.4.1). The legend is the points' alone: colour and shape in one mark merge
        # into one legend, where a line with `point: true` drew two.
        "layer": [
            {
                "mark": "line",
                "encoding": {
                    "color": {**level, "legend": None},
                    "strokeDash": {**level, "legend": None},
                },
            },
            {"mark": {"type": "point", "filled": True, "size": 60}, "encoding": {"shape": level}},
        ],
        "config": TEXT_CONFIG,
    }
