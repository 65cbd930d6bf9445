"""An episode with everything Ally holds for it in FHIR: the EpisodeOfCare, its
QuestionnaireResponses, their Observations and the Questionnaires they answer, as the searchset
Bundle an ``$everything`` operation returns."""

from __future__ import annotations

from collections.abc import Sequence

from ally.interop.fhir.observation import observations
from ally.interop.fhir.questionnaire import Resource, questionnaire
from ally.interop.fhir.records import AdministrationRecord, EpisodeRecord
from ally.interop.fhir.response import questionnaire_response, reference
from ally.measures.schema import Measure


def episode_of_care(episode: EpisodeRecord) -> Resource:
    period = {"start": episode.start.isoformat()}
    if episode.end is not None:
        period["end"] = episode.end.isoformat()
    resource: Resource = {
        "resourceType": "EpisodeOfCare",
        "id": episode.id,
        "status": "finished" if episode.end is not None else "active",
        "patient": reference("Patient", episode.patient),
        "period": period,
    }
    if episode.organisation is not None:
        resource["managingOrganization"] = reference("Organization", episode.organisation)
    return resource


def _entry(resource: Resource, base: str, mode: str) -> Resource:
    return {
        "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
        "resource": resource,
        "search": {"mode": mode},
    }


def bundle_for_episode(
    episode: EpisodeRecord, records: Sequence[AdministrationRecord], base: str, language: str = "en"
) -> Resource:
    """The episode first, then each administration's response and its Observations in the
    order given, then each Questionnaire answered, once."""
    entries = [_entry(episode_of_care(episode), base, "match")]
    answered: dict[str, Measure] = {}
    for record in records:
        entries.append(_entry(questionnaire_response(record, base), base, "include"))
        entries += [_entry(o, base, "include") for o in observations(record, base)]
        answered.setdefault(record.measure.id, record.measure)
    for measure_id in sorted(answered):
        entries.append(_entry(questionnaire(answered[measure_id], language, base), base, "include"))
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": 1,
        "entry": entries,
    }


def searchset(resources: Sequence[Resource], base: str) -> Resource:
    """Resources found by a search, as a searchset Bundle."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [_entry(resource, base, "match") for resource in resources],
    }
