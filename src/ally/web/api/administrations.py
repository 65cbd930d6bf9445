"""An episode's administrations: the list, and a new one of a measure from Ally's library."""

from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Status

from ally.web.actions.answers import do_create_administration
from ally.web.api.auth import Org, member
from ally.web.api.episodes import episode_or_404, visible_administrations
from ally.web.api.errors import RequestRefusedError
from ally.web.api.schemas import BODY_REFUSED, AdministrationIn, AdministrationOut, errors
from ally.web.collect import measures
from ally.web.collect.planning import link_expiry
from ally.web.practice.models import Session
from ally.web.scoping import Capability, check_can_record, scoped

router = Router(tags=["administrations"])


@router.get(
    "/o/{org}/episodes/{episode_id}/administrations",
    response={200: list[AdministrationOut], **errors(401, 404, 422)},
    operation_id="list_episode_administrations",
    url_name="episode_administrations",
    summary="The administrations of one episode",
)
def list_episode_administrations(request: HttpRequest, org: Org, episode_id: int) -> Any:
    """Oldest first, each with its state's timestamps and the score in force once answered."""
    membership = member(request, org)
    episode = episode_or_404(membership, episode_id)
    return visible_administrations(membership).filter(episode=episode)


@router.post(
    "/o/{org}/episodes/{episode_id}/administrations",
    response={201: AdministrationOut, **errors(401, 403, 404, 409, 422, *BODY_REFUSED)},
    operation_id="create_administration",
    url_name="create_administration",
    summary="Give a measure: a new administration for the episode",
)
def create_administration(
    request: HttpRequest, org: Org, episode_id: int, body: AdministrationIn
) -> Any:
    """The library's current version of the measure. `session_id` must be a session of this
    episode; a researcher may not create one (403), nor a token without the scope
    responses:write; an ended episode takes none (409)."""
    membership = member(request, org, needs=Capability.RECORD_ANSWERS)
    episode = episode_or_404(membership, episode_id)
    check_can_record(membership, episode, Capability.RECORD_ANSWERS)
    known = sorted(measures.library().measures)
    if body.measure_id not in known:
        message = f"This measure is not in Ally's library; known measures: {', '.join(known)}."
        problem = {"item": None, "loc": ["body", "measure_id"], "message": message}
        raise RequestRefusedError(422, message, [problem])
    session = None
    if body.session_id is not None:
        session = scoped(Session, membership).filter(episode=episode, pk=body.session_id).first()
        if session is None:
            message = "No such session in this episode; give the id of one of its sessions."
            problem = {"item": None, "loc": ["body", "session_id"], "message": message}
            raise RequestRefusedError(422, message, [problem])
    expires_at = body.expires_at
    if expires_at is not None and expires_at <= timezone.now():
        message = "The expiry time has already passed; give a time in the future."
        problem = {"item": None, "loc": ["body", "expires_at"], "message": message}
        raise RequestRefusedError(422, message, [problem])
    if expires_at is None and session is not None:
        expires_at = link_expiry(session)
    administration = do_create_administration(
        episode,
        body.measure_id,
        actor=membership,
        expires_at=expires_at,
        session=session,
        respondent=body.respondent,
        timing=body.timing or "",
    )
    return Status(201, visible_administrations(membership).get(pk=administration.pk))
