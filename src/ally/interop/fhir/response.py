"""An administration as a QuestionnaireResponse, and the way back: a QuestionnaireResponse from
another system read into the measure and item answers Ally's write path takes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ally.interop.fhir import codes
from ally.interop.fhir.problems import FhirReadError, Issue
from ally.interop.fhir.questionnaire import (
    Resource,
    integer_scored,
    option_coding,
    text_language,
)
from ally.interop.fhir.records import AdministrationRecord, Respondent
from ally.measures.schema import Item, Measure, Options
from ally.scoring import validate

UCUM = "http://unitsofmeasure.org"

SOURCE_TYPES = {
    Respondent.CLIENT: "Patient",
    Respondent.CLINICIAN: "Practitioner",
    Respondent.OBSERVER: "RelatedPerson",
}


def score_value(measure: Measure, value: float, prorated: bool) -> dict[str, Any]:
    """A score as Observation.value[x]: valueInteger for a whole, unprorated sum of
    whole-number options; otherwise (a prorated sum, a mean, visual-analogue lines) a
    valueQuantity in the UCUM unit {score}, because Observation has no valueDecimal in R4 or
    R4B. The unit is the German MII PROMs profile's and the SDC example's (research notes §6.3).
    """
    if integer_scored(measure) and not prorated and float(value).is_integer():
        return {"valueInteger": int(value)}
    return {
        "valueQuantity": {
            # Unrounded: the score Ally stores, so a receiving system gets the same number.
            "value": float(value),
            "unit": "{score}",
            "system": UCUM,
            "code": "{score}",
        }
    }


def reference(resource_type: str, resource_id: str) -> dict[str, str]:
    return {"reference": f"{resource_type}/{resource_id}"}


def _answer(measure: Measure, item: Item, value: float, language: str | None, base: str) -> Any:
    response = measure.response_of(item)
    if isinstance(response, Options):
        option = next(o for o in response.options if o.value == value)
        return {"valueCoding": option_coding(measure, option, language, base)}
    return {"valueDecimal": int(value) if float(value).is_integer() else value}


def questionnaire_response(record: AdministrationRecord, base: str) -> Resource:
    """The administration's answers in force as an SDC QuestionnaireResponse: one item per
    answered item (unanswered ones are left out, as FHIR asks), then the total."""
    measure = record.measure
    lang = text_language(measure, record.language)
    items: list[Resource] = []
    for item in measure.items:
        value = record.answers.get(item.number)
        if value is None:
            continue
        found: Resource = {"linkId": str(item.number)}
        if lang is not None and item.text.get(lang):
            found["text"] = item.text[lang]
        found["answer"] = [_answer(measure, item, value, lang, base)]
        items.append(found)
    total = float(record.scores.total)
    items.append(
        {
            "linkId": codes.TOTAL_LINK_ID,
            "text": "Total score",
            "answer": [{"valueDecimal": int(total) if total.is_integer() else total}],
        }
    )
    resource: Resource = {
        "resourceType": "QuestionnaireResponse",
        "id": record.id,
        "meta": {"profile": [codes.SDC_RESPONSE]},
        "questionnaire": f"{codes.questionnaire_url(base, measure.id)}|{measure.version}",
        "status": "amended" if record.amended else "completed",
        "subject": reference("Patient", record.patient),
        "authored": record.authored.isoformat(),
        "source": reference(SOURCE_TYPES[record.respondent], record.patient)
        if record.respondent is Respondent.CLIENT
        else {"type": SOURCE_TYPES[record.respondent]},
        "item": items,
    }
    if lang is not None:
        resource["language"] = lang
    if record.episode is not None:
        resource["extension"] = [
            {
                "url": codes.EPISODE_OF_CARE,
                "valueReference": reference("EpisodeOfCare", record.episode),
            }
        ]
    if record.encounter is not None:
        resource["encounter"] = reference("Encounter", record.encounter)
    if record.author is not None:
        resource["author"] = reference("Practitioner", record.author)
    return resource


# Reading ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadResponse:
    """What a QuestionnaireResponse asks Ally to store, in Ally's terms."""

    measure_id: str
    version: str
    answers: Mapping[int, float | None]
    """By item number; None for an item left unanswered."""
    patient: str | None
    episode: str | None
    encounter: str | None
    respondent: Respondent
    authored: datetime | None


def _where(link_id: str) -> str:
    return f"QuestionnaireResponse.item.where(linkId='{link_id}')"


def _items(items: Any, path: str = "QuestionnaireResponse") -> Iterator[Mapping[str, Any]]:
    """Every item, groups opened, in document order."""
    if not isinstance(items, Sequence) or isinstance(items, str):
        return
    for item in items:
        if isinstance(item, Mapping):
            yield item
            yield from _items(item.get("item"))


def reference_id(value: Any, resource_type: str) -> str | None:
    """The id in a reference to `resource_type` ("Patient/12" or an absolute URL ending so)."""
    if not isinstance(value, Mapping) or not isinstance(value.get("reference"), str):
        return None
    parts = value["reference"].rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == resource_type and parts[-1]:
        return str(parts[-1])
    return None


def _measure_of(
    resource: Mapping[str, Any], measures: Mapping[str, Measure], base: str
) -> tuple[Measure | None, list[Issue]]:
    canonical = resource.get("questionnaire")
    known = ", ".join(codes.questionnaire_url(base, m) for m in sorted(measures))
    if not isinstance(canonical, str) or not canonical:
        return None, [
            Issue(
                "QuestionnaireResponse.questionnaire",
                f"name the Questionnaire answered by its canonical URL, one of: {known}",
                "required",
            )
        ]
    url, _, version = canonical.partition("|")
    prefix = f"{base}/Questionnaire/"
    found = None
    if url.startswith(prefix):
        found = measures.get(codes.ally_id(url[len(prefix) :]))
    if found is None:
        return None, [
            Issue(
                "QuestionnaireResponse.questionnaire",
                f"unknown questionnaire {canonical!r}: Ally takes responses to its own "
                f"Questionnaires only, one of: {known}",
                "not-found",
            )
        ]
    if version and version != found.version:
        return found, [
            Issue(
                "QuestionnaireResponse.questionnaire",
                f"the response is to version {version} of {found.name}, but Ally has version "
                f"{found.version}; answer the current version",
                "business-rule",
            )
        ]
    return found, []


def _item_by_link_id(measure: Measure) -> dict[str, Item]:
    """Items by linkId: Ally's ("3") and, for a generous reader, the item's LOINC code (the HL7
    Personal Health Record IG uses LOINC codes as linkIds)."""
    found: dict[str, Item] = {}
    for item in measure.items:
        found[str(item.number)] = item
        if "loinc" in item.codes:
            found[item.codes["loinc"]] = item
    return found


def _describe_options(measure: Measure, item: Item, base: str) -> str:
    response = measure.response_of(item)
    assert isinstance(response, Options)
    return ", ".join(
        f"{option_coding(measure, o, None, base)['code']} (value {o.value:g})"
        for o in response.options
    )


def _value(
    measure: Measure, item: Item, link_id: str, answers: Any, base: str
) -> tuple[float | None, list[Issue]]:
    where = _where(link_id)
    if not isinstance(answers, Sequence) or isinstance(answers, str) or not answers:
        return None, []
    if len(answers) > 1:
        return None, [Issue(where, f"item {item.number} takes one answer; {len(answers)} given")]
    answer = answers[0] if isinstance(answers[0], Mapping) else {}
    response = measure.response_of(item)
    if isinstance(response, Options):
        coding = answer.get("valueCoding")
        if isinstance(coding, Mapping):
            for option in response.options:
                expected = option_coding(measure, option, None, base)
                system = coding.get("system")
                if coding.get("code") == expected["code"] and system in (None, expected["system"]):
                    return option.value, []
            return None, [
                Issue(
                    where,
                    f"answer code {coding.get('code')!r} (system {coding.get('system')!r}) is not "
                    f"one of item {item.number}'s answer options: "
                    f"{_describe_options(measure, item, base)}",
                    "code-invalid",
                )
            ]
        number = answer.get("valueInteger", answer.get("valueDecimal"))
        if isinstance(number, int | float) and not isinstance(number, bool):
            if response.accepts(float(number)):
                return float(number), []
            return None, [
                Issue(
                    where,
                    f"answer {number:g} is out of range: item {item.number} takes one of "
                    f"{', '.join(f'{v:g}' for v in response.values)}",
                    "value",
                )
            ]
        return None, [
            Issue(
                where,
                f"item {item.number} takes a valueCoding from its answer options "
                f"({_describe_options(measure, item, base)})",
            )
        ]
    number = answer.get("valueDecimal", answer.get("valueInteger"))
    if isinstance(number, int | float) and not isinstance(number, bool):
        if response.accepts(float(number)):
            return float(number), []
        return None, [
            Issue(
                where,
                f"answer {number:g} is out of range: item {item.number} takes "
                f"{response.minimum:g} to {response.maximum:g} in steps of {response.step:g}",
                "value",
            )
        ]
    return None, [Issue(where, f"item {item.number} takes a valueDecimal")]


def _answers(
    resource: Mapping[str, Any], measure: Measure, base: str
) -> tuple[dict[int, float | None], list[Issue]]:
    by_link_id = _item_by_link_id(measure)
    answers: dict[int, float | None] = {item.number: None for item in measure.items}
    seen: dict[int, str] = {}
    issues: list[Issue] = []
    for entry in _items(resource.get("item")):
        link_id = str(entry.get("linkId", ""))
        if link_id in (codes.TOTAL_LINK_ID, codes.INSTRUCTIONS_LINK_ID):
            continue  # Ally scores the answers itself; a sent total is not taken
        item = by_link_id.get(link_id)
        if item is None:
            if entry.get("item") and not entry.get("answer"):
                continue  # a group around items
            issues.append(
                Issue(
                    _where(link_id),
                    f"unknown linkId {link_id!r}: {measure.name} has items with linkIds "
                    f"1 to {len(measure.items)}",
                )
            )
            continue
        if item.number in seen:
            issues.append(
                Issue(
                    _where(link_id),
                    f"item {item.number} is answered twice (linkIds {seen[item.number]!r} and "
                    f"{link_id!r}); give each item once",
                )
            )
            continue
        seen[item.number] = link_id
        value, found = _value(measure, item, link_id, entry.get("answer"), base)
        issues += found
        answers[item.number] = value
    return answers, issues


def _required(measure: Measure, answers: Mapping[int, float | None]) -> list[Issue]:
    if measure.scoring.min_answered != len(measure.items):
        return []
    return [
        Issue(
            _where(str(number)),
            f"item {number} is required: {measure.name} is scored only with every item answered",
            "required",
        )
        for number, value in answers.items()
        if value is None
    ]


def _scoring_issues(measure: Measure, answers: Mapping[int, float | None]) -> list[Issue]:
    """Ally's scoring rules (too many unanswered items), as issues."""
    return [
        Issue(
            _where(str(p.item)) if p.item is not None else "QuestionnaireResponse.item",
            p.message,
            "business-rule",
        )
        for p in validate(measure, answers)
    ]


def _respondent(resource: Mapping[str, Any]) -> tuple[Respondent, list[Issue]]:
    source = resource.get("source")
    if source is None:
        return Respondent.CLIENT, []
    kinds = {kind: respondent for respondent, kind in SOURCE_TYPES.items()}
    reference_text = source.get("reference", "") if isinstance(source, Mapping) else ""
    kind = source.get("type") if isinstance(source, Mapping) else None
    if not kind and isinstance(reference_text, str) and "/" in reference_text:
        kind = reference_text.rstrip("/").split("/")[-2]
    if kind in kinds:
        return kinds[kind], []
    return Respondent.CLIENT, [
        Issue(
            "QuestionnaireResponse.source",
            "the source must be the Patient (the client answered), a Practitioner (the "
            "clinician rated) or a RelatedPerson (an observer rated)",
        )
    ]


def _authored(resource: Mapping[str, Any]) -> tuple[datetime | None, list[Issue]]:
    text = resource.get("authored")
    if text is None:
        return None, []
    try:
        return datetime.fromisoformat(str(text)), []
    except ValueError:
        return None, [
            Issue(
                "QuestionnaireResponse.authored",
                f"{text!r} is not a date and time; give one like 2026-03-02T10:15:00+01:00",
            )
        ]


def read_questionnaire_response(
    resource: Mapping[str, Any], measures: Mapping[str, Measure], base: str
) -> ReadResponse:
    """The measure and item answers of a completed QuestionnaireResponse to one of Ally's
    Questionnaires; FhirReadError lists every problem, each with the linkId it is about."""
    if resource.get("resourceType") != "QuestionnaireResponse":
        raise FhirReadError(
            [Issue("resourceType", "send a QuestionnaireResponse resource", "not-supported")]
        )
    issues: list[Issue] = []
    status = resource.get("status")
    if status not in codes.STORED_RESPONSE_STATUSES:
        issues.append(
            Issue(
                "QuestionnaireResponse.status",
                f"status is {status!r}; Ally stores finished responses only: 'completed' "
                "(or 'amended')",
                "business-rule",
            )
        )
    patient = reference_id(resource.get("subject"), "Patient")
    if resource.get("subject") is not None and patient is None:
        issues.append(
            Issue("QuestionnaireResponse.subject", "the subject must be a Patient/<id> reference")
        )
    episode = None
    for extension in resource.get("extension") or ():
        if isinstance(extension, Mapping) and extension.get("url") == codes.EPISODE_OF_CARE:
            episode = reference_id(extension.get("valueReference"), "EpisodeOfCare")
            if episode is None:
                issues.append(
                    Issue(
                        "QuestionnaireResponse.extension",
                        "the episode-of-care extension must hold an EpisodeOfCare/<id> reference",
                    )
                )
    encounter = reference_id(resource.get("encounter"), "Encounter")
    if resource.get("encounter") is not None and encounter is None:
        issues.append(
            Issue(
                "QuestionnaireResponse.encounter",
                "the encounter must be an Encounter/<id> reference (a session of the episode)",
            )
        )
    respondent, found = _respondent(resource)
    issues += found
    authored, found = _authored(resource)
    issues += found
    measure, found = _measure_of(resource, measures, base)
    issues += found
    if measure is None:
        raise FhirReadError(issues)
    answers, found = _answers(resource, measure, base)
    issues += found
    if not found:
        issues += _required(measure, answers) or _scoring_issues(measure, answers)
    if issues:
        raise FhirReadError(issues)
    return ReadResponse(
        measure_id=measure.id,
        version=measure.version,
        answers=answers,
        patient=patient,
        episode=episode,
        encounter=encounter,
        respondent=respondent,
        authored=authored,
    )
