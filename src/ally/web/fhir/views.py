"""The FHIR endpoints. Reads are scoped like the screens (a clinician sees their caseload,
another practice's rows are 404); the one write stores a QuestionnaireResponse through
`do_store_questionnaire_response`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import wraps
from importlib import metadata as package
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from ally.interop.fhir import (
    FhirReadError,
    Issue,
    binding_issues,
    bundle_for_episode,
    capability_statement,
    episode_of_care,
    observations,
    questionnaire,
    questionnaire_response,
    read_questionnaire_response,
    searchset,
    structure_issues,
)
from ally.interop.fhir.codes import ally_id
from ally.web.actions.fhir import do_store_questionnaire_response
from ally.web.collect import measures
from ally.web.collect.errors import CollectError, InvalidAnswersError
from ally.web.collect.models import Response
from ally.web.fhir.outcome import FhirRefusalError, refusal_reply, resource_reply
from ally.web.fhir.principal import Principal, acting_principal, find, visible
from ally.web.fhir.records import administration_record, episode_record, fhir_base, with_related
from ally.web.practice.models import Client, Episode, Session
from ally.web.privacy.keys import KeyRing
from ally.web.text import SUBMISSION_KEY

MAX_BODY_BYTES = 256 * 1024
PUBLISHED = "2026-12-06"
"""When this CapabilityStatement was last changed."""
JSON_TYPES = frozenset({"application/fhir+json", "application/json"})

View = Callable[..., HttpResponse]


def fhir_view(*methods: str) -> Callable[[View], View]:
    """A FHIR endpoint taking `methods`: every refusal becomes an OperationOutcome.

    CSRF is checked by `acting_principal` (for a session) rather than by the middleware, so
    that its refusal is an OperationOutcome too and a token client needs none."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                if request.method not in methods:
                    raise FhirRefusalError.one(
                        405, f"Use {' or '.join(methods)} here.", "not-supported"
                    )
                return view(request, acting_principal(request), *args, **kwargs)
            except FhirRefusalError as refusal:
                return refusal_reply(refusal)
            except Http404:
                return refusal_reply(FhirRefusalError.one(404, "Not found.", "not-found"))
            except PermissionDenied as denied:
                message = str(denied) or "Your role may not do this."
                return refusal_reply(FhirRefusalError.one(403, message, "forbidden"))

        exempt: View = csrf_exempt(wrapped)
        return exempt

    return decorate


def _language(request: HttpRequest) -> str:
    return str(getattr(request, "LANGUAGE_CODE", "en") or "en")


def _ally_version() -> str:
    try:
        return package.version("ally")
    except package.PackageNotFoundError:
        return "unknown"


def _metadata(request: HttpRequest) -> HttpResponse:
    """The CapabilityStatement: open to all, as FHIR clients read it before signing in. It names
    no data."""
    if request.method not in ("GET", "HEAD"):
        return refusal_reply(FhirRefusalError.one(405, "Use GET here.", "not-supported"))
    return resource_reply(capability_statement(fhir_base(), _ally_version(), PUBLISHED))


metadata: View = csrf_exempt(_metadata)


# Questionnaires: the measure library ------------------------------------------------------------


@fhir_view("GET")
def questionnaires(request: HttpRequest, principal: Principal) -> HttpResponse:
    """Every measure in Ally's library; ``?url=`` finds one by its canonical URL."""
    base = fhir_base()
    found = [questionnaire(m, _language(request), base) for m in measures.library()]
    wanted = request.GET.get("url")
    if wanted:
        found = [q for q in found if q["url"] == wanted.partition("|")[0]]
    return resource_reply(searchset(found, base))


@fhir_view("GET")
def questionnaire_read(request: HttpRequest, principal: Principal, id: str) -> HttpResponse:
    try:
        measure = measures.measure(ally_id(id))
    except KeyError:
        known = ", ".join(sorted(measures.library().measures))
        raise FhirRefusalError.one(
            404, f"No Questionnaire {id!r}; Ally's measures are: {known}.", "not-found"
        ) from None
    return resource_reply(questionnaire(measure, _language(request), fhir_base()))


# Responses and scores ---------------------------------------------------------------------------


def _patient_of(request: HttpRequest) -> str:
    """The patient a search is for: ``subject=Patient/12`` or ``patient=12``."""
    value = request.GET.get("subject") or request.GET.get("patient") or ""
    patient = value.rsplit("/", 1)[-1] if value.startswith("Patient/") or "/" not in value else ""
    if not patient.isdigit():
        raise FhirRefusalError.one(
            400,
            "Search by patient: give subject=Patient/<id> or patient=<id> (Ally's numeric "
            "client id).",
            "required",
        )
    return patient


def _patient_responses(request: HttpRequest, principal: Principal) -> list[Response]:
    patient = int(_patient_of(request))
    found = visible(
        principal,
        Response,
        lambda rows: with_related(rows.filter(administration__episode__client_id=patient)),
    )
    return sorted(found, key=lambda r: (r.administration.completed_at or r.recorded_at, r.pk))


@fhir_view("GET", "POST")
def questionnaire_responses(request: HttpRequest, principal: Principal) -> HttpResponse:
    if request.method == "POST":
        return _store(request, principal)
    base = fhir_base()
    language = _language(request)
    keys = KeyRing()
    found = [
        questionnaire_response(administration_record(r, language, keys), base)
        for r in _patient_responses(request, principal)
    ]
    return resource_reply(searchset(found, base))


def _response(request: HttpRequest, principal: Principal, id: str) -> Response:
    if not id.isdigit():
        raise FhirRefusalError.one(404, f"No QuestionnaireResponse with id {id}.", "not-found")
    response, _ = find(
        request, principal, with_related(Response.objects.all()), "QuestionnaireResponse", pk=id
    )
    return response


@fhir_view("GET")
def questionnaire_response_read(
    request: HttpRequest, principal: Principal, id: str
) -> HttpResponse:
    response = _response(request, principal, id)
    record = administration_record(response, _language(request))
    return resource_reply(questionnaire_response(record, fhir_base()))


@fhir_view("GET")
def observation_search(request: HttpRequest, principal: Principal) -> HttpResponse:
    """The scores of a patient, oldest first; ``code=`` (``system|code`` or a code) narrows."""
    base = fhir_base()
    language = _language(request)
    keys = KeyRing()
    found = [
        observation
        for response in _patient_responses(request, principal)
        for observation in observations(administration_record(response, language, keys), base)
    ]
    code = request.GET.get("code")
    if code:
        system, _, value = code.rpartition("|")
        found = [
            o
            for o in found
            if any(
                c["code"] == value and (not system or c["system"] == system)
                for c in o["code"]["coding"]
            )
        ]
    return resource_reply(searchset(found, base))


@fhir_view("GET")
def observation_read(request: HttpRequest, principal: Principal, id: str) -> HttpResponse:
    response_id, _, _ = id.partition("-")
    response = _response(request, principal, response_id)
    for observation in observations(
        administration_record(response, _language(request)), fhir_base()
    ):
        if observation["id"] == id:
            return resource_reply(observation)
    raise FhirRefusalError.one(404, f"No Observation with id {id}.", "not-found")


# Episodes ---------------------------------------------------------------------------------------


@fhir_view("GET")
def episode_read(request: HttpRequest, principal: Principal, id: int) -> HttpResponse:
    episode, _ = find(request, principal, Episode, "EpisodeOfCare", pk=id)
    return resource_reply(episode_of_care(episode_record(episode)))


@fhir_view("GET")
def episode_everything(request: HttpRequest, principal: Principal, id: int) -> HttpResponse:
    """The episode, its responses and scores and the Questionnaires answered, in one Bundle."""
    episode, caller = find(request, principal, Episode, "EpisodeOfCare", pk=id)
    rows = with_related(Response.objects.filter(administration__episode=episode))
    language = _language(request)
    keys = KeyRing()
    records = [
        administration_record(r, language, keys)
        for r in sorted(
            rows.for_member(caller),
            key=lambda r: (r.administration.completed_at or r.recorded_at, r.pk),
        )
    ]
    return resource_reply(
        bundle_for_episode(episode_record(episode), records, fhir_base(), language)
    )


# Storing a response from another system ---------------------------------------------------------


def _body(request: HttpRequest) -> dict[str, Any]:
    if request.content_type not in JSON_TYPES:
        raise FhirRefusalError.one(
            415, "Send the QuestionnaireResponse as application/fhir+json.", "not-supported"
        )
    if len(request.body) > MAX_BODY_BYTES:
        raise FhirRefusalError.one(
            413, f"The resource is larger than {MAX_BODY_BYTES // 1024} KiB.", "too-long"
        )
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FhirRefusalError.one(400, f"The body is not JSON: {exc}.", "structure") from None
    if not isinstance(body, dict):
        raise FhirRefusalError.one(
            400, "The body must be one JSON object, a resource.", "structure"
        )
    return body


def _idempotency_key(request: HttpRequest, principal: Principal, resource: dict[str, Any]) -> str:
    """The caller's Idempotency-Key, or one made from the resource itself, so that the same
    resource posted twice is stored once."""
    given = request.headers.get("Idempotency-Key")
    if given is not None:
        if not SUBMISSION_KEY.fullmatch(given):
            raise FhirRefusalError.one(
                400,
                "The Idempotency-Key must be 1 to 100 visible ASCII characters, no spaces.",
                "invalid",
            )
        return given
    content = {k: v for k, v in resource.items() if k not in ("id", "meta", "text")}
    digest = hashlib.sha256(
        json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    return f"fhir-{digest}"


def _refuse_unstorable(issues: list[Issue], status: int = 422) -> None:
    if issues:
        raise FhirRefusalError(status, issues)


def _where_to_store(
    request: HttpRequest,
    principal: Principal,
    patient: str | None,
    episode_id: str | None,
    encounter: str | None,
) -> tuple[Any, Any, Any]:
    """The episode, its session and the membership to act with, from the response's subject,
    episode-of-care extension and encounter."""
    if patient is None or not patient.isdigit():
        raise FhirRefusalError.one(
            422,
            "Name the client as subject: Patient/<Ally's client id>.",
            "required",
            "QuestionnaireResponse.subject",
        )
    client, membership = find(request, principal, Client, "Patient", pk=patient)
    episodes = Episode.objects.for_member(membership).filter(client=client)
    session = None
    if encounter is not None:
        session = (
            Session.objects.for_member(membership)
            .filter(pk=encounter if encounter.isdigit() else None, episode__client=client)
            .first()
        )
        if session is None:
            raise FhirRefusalError.one(
                422,
                f"No session {encounter} of this client; the encounter must be one of "
                "their episode's sessions.",
                "not-found",
                "QuestionnaireResponse.encounter",
            )
        episodes = episodes.filter(pk=session.episode_id)
    if episode_id is not None:
        episodes = episodes.filter(pk=episode_id if episode_id.isdigit() else None)
        where, what = "QuestionnaireResponse.extension", f"episode {episode_id} of this client"
    elif session is None:
        episodes = episodes.filter(ended_on__isnull=True)
        where, what = "QuestionnaireResponse.subject", "open episode of this client"
    else:
        where, what = "QuestionnaireResponse.encounter", "episode of this session"
    found = list(episodes[:2])
    if len(found) != 1:
        problem = "no" if not found else "more than one"
        raise FhirRefusalError.one(
            422,
            f"Ally found {problem} {what} you may record for. Name the episode with the "
            "extension http://hl7.org/fhir/StructureDefinition/workflow-episodeOfCare "
            "(valueReference EpisodeOfCare/<id>), or the session as encounter.",
            "business-rule",
            where,
        )
    return found[0], session, membership


def _store(request: HttpRequest, principal: Principal) -> HttpResponse:
    resource = _body(request)
    _refuse_unstorable(structure_issues(resource), status=400)
    base = fhir_base()
    library = measures.library().measures
    _refuse_unstorable(binding_issues(resource, library, base))
    try:
        read = read_questionnaire_response(resource, library, base)
    except FhirReadError as exc:
        raise FhirRefusalError(422, exc.issues) from None
    episode, session, membership = _where_to_store(
        request, principal, read.patient, read.episode, read.encounter
    )
    try:
        stored = do_store_questionnaire_response(
            episode,
            read.measure_id,
            read.answers,
            idempotency_key=_idempotency_key(request, principal, resource),
            actor=membership,
            session=session,
            respondent=str(read.respondent),
        )
    except InvalidAnswersError as exc:
        issues = [
            Issue("QuestionnaireResponse.item", str(p), "business-rule") for p in exc.problems
        ]
        raise FhirRefusalError(422, issues) from None
    except CollectError as exc:
        raise FhirRefusalError.one(409, str(exc), "conflict") from None
    response = with_related(Response.objects.all()).get(pk=stored.response.pk)
    body = questionnaire_response(administration_record(response, _language(request)), base)
    location = f"{base}/QuestionnaireResponse/{response.pk}"
    if stored.replayed:
        return resource_reply(body, status=200, Location=location)
    return resource_reply(body, status=201, Location=location)
