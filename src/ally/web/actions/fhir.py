"""Storing a QuestionnaireResponse another system sent: a new administration of the measure and
its answers, through `do_create_administration` and `do_record_response`, so it is scored, its
episode's results refreshed, its alerts raised and both steps audited, as for a form."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.db import transaction

from ally.web.actions.answers import do_create_administration, do_record_response
from ally.web.apiclients.models import ApiClient
from ally.web.collect.errors import IdempotencyConflictError
from ally.web.collect.models import Response
from ally.web.practice.models import Episode, Membership, Session
from ally.web.scoping import Capability, check_can_record


@dataclass(frozen=True)
class Stored:
    response: Response
    replayed: bool
    """True when this submission was stored before and nothing new was stored now."""


def _same(
    response: Response, episode: Episode, measure_id: str, answers: Mapping[str, object]
) -> bool:
    administration = response.administration
    return (
        administration.episode_id == episode.pk
        and administration.measure_id == measure_id
        and response.answers == answers
    )


def do_store_questionnaire_response(
    episode: Episode,
    measure_id: str,
    answers: Mapping[int, float | None],
    *,
    idempotency_key: str,
    actor: Membership | ApiClient,
    session: Session | None = None,
    respondent: str = "client",
) -> Stored:
    """Store answers sent as a FHIR QuestionnaireResponse once per `idempotency_key`: the same
    submission again returns the stored response; the key with other answers is refused
    (IdempotencyConflictError)."""
    # Giving a measure and its answers: what the scope responses:write allows a token.
    check_can_record(actor, episode, Capability.RECORD_ANSWERS)
    stored_answers = {str(number): value for number, value in sorted(answers.items())}
    earlier = Response.objects.select_related("administration").filter(
        idempotency_key=idempotency_key
    )
    for response in earlier:
        if _same(response, episode, measure_id, stored_answers):
            return Stored(response, replayed=True)
        raise IdempotencyConflictError(
            "This submission key was already used for other answers; "
            "send each new QuestionnaireResponse with a new key."
        )
    try:
        # One transaction: if the answers are refused, no empty administration is left behind.
        with transaction.atomic():
            administration = do_create_administration(
                episode, measure_id, actor=actor, session=session, respondent=respondent
            )
            response = do_record_response(
                administration, answers, idempotency_key=idempotency_key, actor=actor
            )
    except IdempotencyConflictError:
        # The same submission sent twice at once: the other one stored it first.
        again = earlier.first()
        if again is not None and _same(again, episode, measure_id, stored_answers):
            return Stored(again, replayed=True)
        raise
    return Stored(response, replayed=False)
