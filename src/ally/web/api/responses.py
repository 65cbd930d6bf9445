"""Answers entered by a member: recorded once per Idempotency-Key through `do_record_response`."""

import logging
from typing import Annotated, Any

from django.http import HttpRequest, HttpResponse
from ninja import Header, Router, Status

from ally.web.actions.answers import do_record_response
from ally.web.api.auth import Org, member
from ally.web.api.schemas import BODY_REFUSED, ResponseIn, ResponseOut, errors
from ally.web.collect.models import Administration, Response
from ally.web.scoping import Capability, check_can_record, get_scoped_or_404, scoped
from ally.web.text import SUBMISSION_KEY

log = logging.getLogger(__name__)

router = Router(tags=["responses"])

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        pattern=f"^{SUBMISSION_KEY.pattern}$",
        # One `example`: OpenAPI 3.1 wants `examples` on a parameter as a map of Example
        # Objects, which ninja would copy into the JSON Schema, where it must be a list.
        example="0b5f1c9e-6a4e-4a8e-9a57-1f0c2b7d9e11",
        description="Chosen by the caller, new for each submission (a UUID will do): "
        "1 to 100 visible ASCII characters, no spaces. Sending the same key again returns "
        "the response stored for it.",
    ),
]


@router.post(
    "/o/{org}/administrations/{administration_id}/responses",
    response={201: ResponseOut, **errors(401, 403, 404, 409, 422, *BODY_REFUSED)},
    operation_id="record_response",
    url_name="record_response",
    summary="Record answers entered by a member or an API client",
)
def record_response(
    request: HttpRequest,
    response: HttpResponse,
    org: Org,
    administration_id: int,
    body: ResponseIn,
    idempotency_key: IdempotencyKey,
) -> Any:
    """Scores the answers, completes the administration and raises its alerts. A token needs
    the scope responses:write.

    201 with the stored response, also for a repeated `Idempotency-Key` with the same answers:
    that reply is the same body, marked by the header `Idempotent-Replayed: true`, and stores
    nothing. The same key with other answers is 409; an answered or expired administration is
    409; answers that cannot be scored are 422 with one problem per item.
    """
    membership = member(request, org, needs=Capability.RECORD_ANSWERS)
    administration = get_scoped_or_404(
        Administration.objects.select_related("episode"), membership, pk=administration_id
    )
    # Before the replay check inside do_record_response: a researcher never gets a response.
    check_can_record(membership, administration.episode, Capability.RECORD_ANSWERS)
    replayed = (
        scoped(Response, membership)
        .filter(idempotency_key=idempotency_key, administration=administration)
        .exists()
    )
    stored = do_record_response(
        administration, body.answers, idempotency_key=idempotency_key, actor=membership
    )
    if replayed:
        response["Idempotent-Replayed"] = "true"
    return Status(201, stored)
