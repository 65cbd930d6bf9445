"""Ally's rows as the plain records `ally.interop.fhir` builds resources from. Ids are numeric
keys only: a client is Patient/<client id>, never a name or the practice's client code."""

from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet

from ally.interop.fhir import AdministrationRecord, EpisodeRecord, Respondent, Scores
from ally.web.collect import measures
from ally.web.collect.models import Response
from ally.web.practice.models import Episode
from ally.web.privacy.keys import KeyRing


def fhir_base() -> str:
    """The FHIR base URL: Questionnaires' canonical URLs and Ally's code systems start with it."""
    return f"{settings.ALLY_BASE_URL}/fhir"


def with_related(rows: QuerySet[Response]) -> QuerySet[Response]:
    return rows.select_related("administration", "administration__episode").prefetch_related(
        "amendments"
    )


def administration_record(
    response: Response, language: str, keys: KeyRing | None = None
) -> AdministrationRecord:
    """A stored response with its answers and score in force (the latest amendment's); `keys`
    holds the clients' data keys across the records of one reply."""
    administration = response.administration
    current = response.current()
    keys = keys or KeyRing()
    answers = current.open_answers(keys.key(administration.episode.client_id))
    return AdministrationRecord(
        id=str(response.pk),
        measure=measures.measure(current.measure_id),
        answers={int(number): value for number, value in answers.items()},
        scores=Scores(
            total=current.total,
            subscales=dict(current.subscales),
            band=current.band or None,
            prorated=current.prorated,
            answered=current.answered,
        ),
        patient=str(administration.episode.client_id),
        authored=administration.completed_at or response.recorded_at,
        episode=str(administration.episode_id),
        encounter=str(administration.session_id) if administration.session_id else None,
        respondent=Respondent(administration.respondent),
        author=str(response.entered_by_id) if response.entered_by_id else None,
        amended=current is not response,
        language=language,
    )


def episode_record(episode: Episode) -> EpisodeRecord:
    return EpisodeRecord(
        id=str(episode.pk),
        patient=str(episode.client_id),
        start=episode.opened_on,
        end=episode.ended_on,
        organisation=str(episode.organisation_id),
    )
