"""An episode's feedback: the engine's stored rows, the numbers the screens show."""

from typing import Any

from django.http import HttpRequest
from ninja import Router

from ally.web.api.auth import Org, member
from ally.web.api.episodes import episode_or_404
from ally.web.api.schemas import FeedbackOut, errors
from ally.web.monitoring.models import EpisodeFeedback, SessionFeedback
from ally.web.scoping import scoped

router = Router(tags=["feedback"])


@router.get(
    "/o/{org}/episodes/{episode_id}/feedback",
    response={200: FeedbackOut, **errors(401, 404, 422)},
    operation_id="get_episode_feedback",
    url_name="get_episode_feedback",
    summary="Scores, change, signals and alliance marks of one episode",
)
def get_episode_feedback(request: HttpRequest, org: Org, episode_id: int) -> Any:
    """`sessions`: one row per scored administration (measure, rater, session); `measures`: one
    row per measure and rater over the episode. Both as `ally analyze` computes them, refreshed
    after every new response."""
    membership = member(request, org)
    episode = episode_or_404(membership, episode_id)
    return {
        "episode_id": episode.pk,
        "sessions": scoped(SessionFeedback, membership)
        .filter(episode=episode)
        .order_by("measure_id", "rater", "session_number"),
        "measures": scoped(EpisodeFeedback, membership)
        .filter(episode=episode)
        .order_by("measure_id", "rater"),
    }
