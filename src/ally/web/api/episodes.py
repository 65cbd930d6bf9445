"""Episodes: the caseload the member may see, and one episode with its administrations."""

from typing import Any

from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.pagination import LimitOffsetPagination, paginate

from ally.web.alerts.models import Alert
from ally.web.api.auth import Org, member
from ally.web.api.schemas import EpisodeDetailOut, EpisodeOut, errors
from ally.web.apiclients.models import ApiClient
from ally.web.collect.models import Administration
from ally.web.practice.models import CareTeamMember, Episode, Membership
from ally.web.scoping import get_scoped_or_404, scoped

router = Router(tags=["episodes"])


class Pages(LimitOffsetPagination):
    """`limit` (1 to 100, default 100) rows from `offset`; out-of-range values are a 422."""

    class Input(Schema):
        limit: int = Field(100, ge=1, le=100, description="How many rows, at most 100.")
        offset: int = Field(0, ge=0, le=2**31 - 1, description="How many rows to skip.")


def visible_episodes(membership: Membership | ApiClient) -> QuerySet[Episode]:
    """The member's episodes with their client's code and their count of open alerts."""
    open_alerts = (
        scoped(Alert, membership)
        .filter(episode=OuterRef("pk"), acted_at__isnull=True)
        .order_by()
        .values("episode")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        scoped(Episode, membership)
        .select_related("client")
        .annotate(open_alerts=Coalesce(Subquery(open_alerts[:1]), 0))
    )


def episode_or_404(membership: Membership | ApiClient, episode_id: int) -> Episode:
    """One episode the member may see, or Http404 (also another organisation's)."""
    return get_scoped_or_404(visible_episodes(membership), membership, pk=episode_id)


def visible_administrations(membership: Membership | ApiClient) -> QuerySet[Administration]:
    """The member's administrations with their session and response, oldest first."""
    return (
        scoped(Administration, membership)
        .select_related("session", "response")
        .order_by("created_at", "pk")
    )


@router.get(
    "/o/{org}/episodes",
    response={200: list[EpisodeOut], **errors(401, 404, 422)},
    operation_id="list_episodes",
    url_name="list_episodes",
    summary="The episodes the member may see",
)
@paginate(Pages)
def list_episodes(request: HttpRequest, org: Org) -> Any:
    """Oldest first by id, so paging with `offset` is stable while episodes are added."""
    return visible_episodes(member(request, org)).order_by("pk")


@router.get(
    "/o/{org}/episodes/{episode_id}",
    response={200: EpisodeDetailOut, **errors(401, 404, 422)},
    operation_id="get_episode",
    url_name="get_episode",
    summary="One episode with its administrations",
)
def get_episode(request: HttpRequest, org: Org, episode_id: int) -> Any:
    membership = member(request, org)
    episodes = visible_episodes(membership).prefetch_related(
        Prefetch("administrations", queryset=visible_administrations(membership)),
        Prefetch("care_team", queryset=scoped(CareTeamMember, membership).order_by("pk")),
    )
    return get_scoped_or_404(episodes, membership, pk=episode_id)
