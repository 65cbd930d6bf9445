"""Groups: the groups the caller may see, their members and sessions, and their levels.

The same rules as the group page (`ally.web.groups.page`): a group's leaders, and members who
see the whole practice with names, get the members; anyone else (researchers, a clinician who
does not lead the group, every API client) gets the group's means only, withheld at a session
where fewer than three members answered. Clients appear by code and numeric id only.
"""

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from ally.feedback.group_checkin import SCALES
from ally.web.api.auth import Org, member
from ally.web.api.schemas import errors
from ally.web.apiclients.models import ApiClient
from ally.web.groups.page import group_view, sees_member_rows
from ally.web.practice.models import Attendance, Group, Membership
from ally.web.scoping import get_scoped_or_404, scoped

router = Router(tags=["groups"])


class GroupOut(Schema):
    id: int
    label: str
    leader_ids: list[int] = Field(description="The leaders' membership ids.")
    sessions: int = Field(description="How many group sessions it has had or has scheduled.")


class GroupMemberOut(Schema):
    episode_id: int
    client_code: str = Field(description="The practice's code for the client; never a name.")
    joined_on: dt.date
    left_on: dt.date | None


class GroupDetailOut(GroupOut):
    members: list[GroupMemberOut] | None = Field(
        description="Null for callers who see the group's means only."
    )


class AttendanceOut(Schema):
    episode_id: int
    status: str


class GroupSessionOut(Schema):
    id: int
    number: int | None = Field(description="The session's number within the group, from 1.")
    scheduled_at: dt.datetime
    status: str
    attended: int = Field(description="How many members came.")
    attendance: list[AttendanceOut] | None = Field(
        description="Each member's attendance; null for callers who see the means only."
    )


class LevelMeanOut(Schema):
    session: int = Field(description="The group session's number.")
    scale: str = Field(description=f"One of {', '.join(SCALES)}.")
    n: int = Field(description="How many members answered.")
    mean: float | None = Field(description="0 to 10; null when withheld or no one answered.")
    sd: float | None
    withheld: bool = Field(description="Fewer members answered than may be shown to this caller.")


class GroupLevelsOut(Schema):
    group_id: int
    smallest_shown: int = Field(description="The fewest answers a mean is shown for.")
    means: list[LevelMeanOut]


def _group_or_404(caller: Membership | ApiClient, group_id: int) -> Group:
    return get_scoped_or_404(Group, caller, pk=group_id)


def _group_out(group: Group) -> dict[str, Any]:
    return {
        "id": group.pk,
        "label": group.label,
        "leader_ids": sorted(m.pk for m in group.leaders.all()),
        "sessions": group.sessions.count(),
    }


@router.get(
    "/o/{org}/groups",
    response={200: list[GroupOut], **errors(401, 404, 422)},
    operation_id="list_groups",
    url_name="list_groups",
    summary="The groups the caller may see",
)
def list_groups(request: HttpRequest, org: Org) -> Any:
    caller = member(request, org)
    groups = scoped(Group, caller).prefetch_related("leaders").order_by("pk")
    return [_group_out(g) for g in groups]


@router.get(
    "/o/{org}/groups/{group_id}",
    response={200: GroupDetailOut, **errors(401, 404, 422)},
    operation_id="get_group",
    url_name="get_group",
    summary="One group, with its members for those who may see them",
)
def get_group(request: HttpRequest, org: Org, group_id: int) -> Any:
    caller = member(request, org)
    group = _group_or_404(caller, group_id)
    found = _group_out(group)
    found["members"] = None
    if sees_member_rows(caller, group):
        found["members"] = [
            {
                "episode_id": place.episode_id,
                "client_code": place.episode.client.code,
                "joined_on": place.joined_on,
                "left_on": place.left_on,
            }
            for place in group.members.select_related("episode__client").order_by("pk")
        ]
    return found


@router.get(
    "/o/{org}/groups/{group_id}/sessions",
    response={200: list[GroupSessionOut], **errors(401, 404, 422)},
    operation_id="list_group_sessions",
    url_name="list_group_sessions",
    summary="A group's sessions, with each member's attendance for those who may see it",
)
def list_group_sessions(request: HttpRequest, org: Org, group_id: int) -> Any:
    caller = member(request, org)
    group = _group_or_404(caller, group_id)
    members = sees_member_rows(caller, group)
    attendance: dict[int, list[dict[str, Any]]] = {}
    for session_id, episode_id, status in (
        Attendance.objects.filter(session__group=group)
        .order_by("episode_id")
        .values_list("session_id", "episode_id", "status")
    ):
        attendance.setdefault(session_id, []).append({"episode_id": episode_id, "status": status})
    return [
        {
            "id": s.pk,
            "number": s.number,
            "scheduled_at": s.scheduled_at,
            "status": s.status,
            "attended": sum(a["status"] == "attended" for a in attendance.get(s.pk, [])),
            "attendance": attendance.get(s.pk, []) if members else None,
        }
        for s in group.sessions.order_by("number", "pk")
    ]


@router.get(
    "/o/{org}/groups/{group_id}/levels",
    response={200: GroupLevelsOut, **errors(401, 404, 422)},
    operation_id="get_group_levels",
    url_name="get_group_levels",
    summary="The group's mean at each level and session, with n",
)
def get_group_levels(request: HttpRequest, org: Org, group_id: int) -> Any:
    caller = member(request, org)
    group = _group_or_404(caller, group_id)
    view = group_view(group, caller)
    return {
        "group_id": group.pk,
        "smallest_shown": view.smallest,
        "means": [
            {
                "session": m.session,
                "scale": m.scale,
                "n": m.n,
                "mean": m.mean,
                "sd": m.sd,
                "withheld": m.suppressed,
            }
            for m in view.means
        ],
    }
