"""An episode's goals: each goal with its wording history, its progress by session and its GAS
levels; the GAS T-scores and goal agreement. Progress is written as any answer is, through
`POST .../administrations/{id}/responses` on a goal-progress form, with goal N as item N."""

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from ally.web.api.auth import Org, member
from ally.web.api.episodes import episode_or_404
from ally.web.api.schemas import errors
from ally.web.goals.course import GoalView, episode_goals

router = Router(tags=["goals"])


class WordingOut(Schema):
    version: int
    text: str
    written_at: datetime
    by_client: bool


class RatingOut(Schema):
    session: int | None
    recorded_at: datetime
    value: float


class GoalOut(Schema):
    number: int
    text: str | None
    """The wording in force; null for a role that does not see clients' words."""
    set_at: datetime
    closed_at: datetime | None
    gas_weight: float | None
    wordings: list[WordingOut]
    progress: list[RatingOut]
    gas_levels: list[RatingOut]
    first: float | None
    last: float | None
    change: float | None
    reliable: str | None


class AttainmentOut(Schema):
    session: int | None
    recorded_at: datetime
    t_score: float | None
    levels: dict[int, int]


class AgreementOut(Schema):
    session: int | None
    client: float | None
    clinician: float | None
    gap: float | None


class GoalsOut(Schema):
    episode_id: int
    reliable_threshold: float
    goals: list[GoalOut]
    attainment: list[AttainmentOut]
    agreement: list[AgreementOut]


def _goal(g: GoalView) -> dict[str, Any]:
    return {
        "number": g.number,
        "text": g.text,
        "set_at": g.goal.created_at,
        "closed_at": g.goal.closed_at,
        "gas_weight": g.goal.weight,
        "wordings": [
            {
                "version": w.version,
                "text": w.text,
                "written_at": w.written_at,
                "by_client": w.by_client,
            }
            for w in g.wordings
        ],
        "progress": [
            {"session": r.session, "recorded_at": r.at, "value": r.value} for r in g.ratings
        ],
        "gas_levels": [
            {"session": r.session, "recorded_at": r.at, "value": r.value} for r in g.levels
        ],
        "first": g.first,
        "last": g.last,
        "change": g.change,
        "reliable": g.reliable,
    }


@router.get(
    "/o/{org}/episodes/{episode_id}/goals",
    response={200: GoalsOut, **errors(401, 404, 422)},
    operation_id="get_goals",
    url_name="get_goals",
    summary="An episode's goals, their progress and attainment",
)
def get_goals(request: HttpRequest, org: Org, episode_id: int) -> Any:
    """Goals by number, each wording with its time (a role without clients' words gets none),
    progress 0-10 by session with the first, last and reliable change (3 points), GAS levels
    and weighted T-scores (Kiresuk & Sherman 1968), and the goal agreement of both sides."""
    membership = member(request, org)
    episode = episode_or_404(membership, episode_id)
    found = episode_goals(membership, episode)
    return {
        "episode_id": episode.pk,
        "reliable_threshold": found.threshold,
        "goals": [_goal(g) for g in found.goals],
        "attainment": [
            {"session": a.session, "recorded_at": a.at, "t_score": a.t_score, "levels": a.levels}
            for a in found.attainment
        ],
        "agreement": [
            {"session": a.session, "client": a.client, "clinician": a.clinician, "gap": a.gap}
            for a in found.agreement
        ],
    }
