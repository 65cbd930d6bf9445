"""Checks of Ally's FHIR resources in two layers.

`structure_issues` is layer one: the fhir.resources R4B models (fhir.resources 8.3.0 has no R4
4.0.1 models; see docs/interop.md). They check elements, types and cardinality, but no code
binding: a Questionnaire with status "bogus" passes them (research notes §6.5).
`binding_issues` is layer two, the codes those models skip: status values, the observation
category, LOINC codes where the measure has them, answer codes among the Questionnaire's
options and each option's ordinalValue equal to the measure's scored value. The web app runs
both on every QuestionnaireResponse it is sent, and the tests on everything Ally serves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from ally.interop.fhir import codes
from ally.interop.fhir.problems import FhirReadError, Issue
from ally.interop.fhir.questionnaire import (
    item_codings,
    option_coding,
    scored_value,
    total_codings,
)
from ally.interop.fhir.response import UCUM, read_questionnaire_response
from ally.measures.schema import Measure, Options

EPISODE_STATUSES = frozenset(
    {"planned", "waitlist", "active", "onhold", "finished", "cancelled", "entered-in-error"}
)


def _path(resource_type: str, loc: Sequence[Any]) -> str:
    path = resource_type
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def structure_issues(resource: Mapping[str, Any]) -> list[Issue]:
    """Layer one: the resource against the FHIR R4B model of its type."""
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        return [Issue("resourceType", "every FHIR resource names its resourceType", "required")]
    try:
        model = get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError, ImportError):
        return [Issue("resourceType", f"{resource_type!r} is not a FHIR R4B resource type")]
    try:
        model.model_validate(dict(resource))
    except ValidationError as exc:
        return [
            Issue(
                _path(resource_type, [p for p in error["loc"] if p != "__root__"]),
                str(error["msg"]),
                "required" if error["type"] == "missing" else "structure",
            )
            for error in exc.errors()
        ]
    return []


def _codings(concept: Any) -> list[tuple[Any, Any]]:
    if not isinstance(concept, Mapping):
        return []
    return [
        (c.get("system"), c.get("code"))
        for c in concept.get("coding") or ()
        if isinstance(c, Mapping)
    ]


def _pairs(codings: Sequence[Mapping[str, Any]]) -> set[tuple[Any, Any]]:
    return {(c.get("system"), c.get("code")) for c in codings}


def _measure_of_questionnaire(
    resource: Mapping[str, Any], measures: Mapping[str, Measure]
) -> Measure | None:
    return measures.get(codes.ally_id(str(resource.get("id", ""))))


def _questionnaire_issues(
    resource: Mapping[str, Any], measures: Mapping[str, Measure], base: str
) -> list[Issue]:
    issues = []
    if resource.get("status") not in codes.QUESTIONNAIRE_STATUSES:
        issues.append(
            Issue(
                "Questionnaire.status",
                f"status {resource.get('status')!r} is not one of "
                f"{', '.join(sorted(codes.QUESTIONNAIRE_STATUSES))}",
                "code-invalid",
            )
        )
    measure = _measure_of_questionnaire(resource, measures)
    if measure is None:
        return [
            *issues,
            Issue("Questionnaire.id", f"no measure {resource.get('id')!r} in Ally", "not-found"),
        ]
    if resource.get("url") != codes.questionnaire_url(base, measure.id):
        issues.append(Issue("Questionnaire.url", "the canonical URL is not the measure's"))
    if "loinc_panel" in measure.codes:
        wanted = (codes.LOINC, measure.codes["loinc_panel"])
        found = {
            pair
            for concept in resource.get("code") or ()
            for pair in [(concept.get("system"), concept.get("code"))]
        }
        if wanted not in found:
            issues.append(
                Issue(
                    "Questionnaire.code",
                    f"{measure.name} is LOINC {wanted[1]}; the code is missing",
                    "code-invalid",
                )
            )
    items = {str(i.get("linkId")): i for i in resource.get("item") or () if isinstance(i, Mapping)}
    for link_id, entry in items.items():
        if entry.get("type") not in codes.ITEM_TYPES:
            issues.append(
                Issue(
                    f"Questionnaire.item.where(linkId='{link_id}').type",
                    f"item type {entry.get('type')!r} is not a FHIR item type",
                    "code-invalid",
                )
            )
    for measure_item in measure.items:
        link_id = str(measure_item.number)
        where = f"Questionnaire.item.where(linkId='{link_id}')"
        item = items.get(link_id)
        if item is None:
            issues.append(Issue(where, f"item {measure_item.number} is missing", "required"))
            continue
        wanted_codes = _pairs(item_codings(measure, measure_item, base))
        if not wanted_codes <= _pairs(item.get("code") or ()):
            issues.append(
                Issue(
                    f"{where}.code",
                    f"item {measure_item.number} must be coded {sorted(wanted_codes)}",
                    "code-invalid",
                )
            )
        response = measure.response_of(measure_item)
        if not isinstance(response, Options):
            continue
        options = item.get("answerOption") or ()
        expected = {
            (c["system"], c["code"]): scored_value(measure, measure_item, o.value)
            for o in response.options
            for c in [option_coding(measure, o, None, base)]
        }
        got = {}
        for option in options:
            coding = option.get("valueCoding") or {}
            ordinals = [
                e.get("valueDecimal")
                for e in option.get("extension") or ()
                if e.get("url") == codes.ORDINAL_VALUE
            ]
            got[(coding.get("system"), coding.get("code"))] = (
                ordinals[0] if len(ordinals) == 1 else None
            )
        if set(got) != set(expected):
            issues.append(
                Issue(
                    f"{where}.answerOption",
                    f"the answer codes are not the measure's: "
                    f"expected {sorted(c for _, c in expected)}",
                    "code-invalid",
                )
            )
            continue
        for pair, weight in expected.items():
            ordinal = got[pair]
            if ordinal is None or float(ordinal) != weight:
                issues.append(
                    Issue(
                        f"{where}.answerOption",
                        f"answer {pair[1]} has ordinalValue "
                        f"{got[pair]!r}; the measure scores it {weight:g}",
                        "value",
                    )
                )
    total = items.get(codes.TOTAL_LINK_ID)
    if total is None or not _pairs(total_codings(measure, base)) <= _pairs(total.get("code") or ()):
        issues.append(
            Issue(
                f"Questionnaire.item.where(linkId='{codes.TOTAL_LINK_ID}')",
                "the total item is missing or not coded as the measure's total",
                "code-invalid",
            )
        )
    return issues


def _response_issues(
    resource: Mapping[str, Any], measures: Mapping[str, Measure], base: str
) -> list[Issue]:
    if resource.get("status") not in codes.RESPONSE_STATUSES:
        return [
            Issue(
                "QuestionnaireResponse.status",
                f"status {resource.get('status')!r} is not "
                f"one of {', '.join(sorted(codes.RESPONSE_STATUSES))}",
                "code-invalid",
            )
        ]
    try:
        read_questionnaire_response(resource, measures, base)
    except FhirReadError as exc:
        return list(exc.issues)
    return []


def _score_codes(measures: Mapping[str, Measure], base: str) -> dict[tuple[Any, Any], Measure]:
    """Every code a score's Observation may carry, with its measure."""
    found: dict[tuple[Any, Any], Measure] = {}
    for measure in measures.values():
        for coding in total_codings(measure, base):
            found[(coding["system"], coding["code"])] = measure
        for sub in measure.scoring.subscales:
            found[(codes.code_system_url(base, measure.id), sub.id)] = measure
    return found


def _observation_issues(
    resource: Mapping[str, Any], measures: Mapping[str, Measure], base: str
) -> list[Issue]:
    issues = []
    if resource.get("status") not in codes.OBSERVATION_STATUSES:
        issues.append(
            Issue(
                "Observation.status",
                f"status {resource.get('status')!r} is not one "
                f"of {', '.join(sorted(codes.OBSERVATION_STATUSES))}",
                "code-invalid",
            )
        )
    categories = {pair for concept in resource.get("category") or () for pair in _codings(concept)}
    if (codes.OBSERVATION_CATEGORY, codes.SURVEY) not in categories:
        issues.append(
            Issue(
                "Observation.category",
                f"a score is in category 'survey' of {codes.OBSERVATION_CATEGORY}",
                "code-invalid",
            )
        )
    known = _score_codes(measures, base)
    found = [pair for pair in _codings(resource.get("code")) if pair in known]
    if not found:
        issues.append(
            Issue(
                "Observation.code",
                "the code is not a score of any measure in Ally "
                "(LOINC where the measure has one, PHQ-9 44261-6, GAD-7 70274-6)",
                "code-invalid",
            )
        )
    quantity = resource.get("valueQuantity")
    if isinstance(quantity, Mapping) and (quantity.get("system"), quantity.get("code")) != (
        UCUM,
        "{score}",
    ):
        issues.append(
            Issue("Observation.valueQuantity", "a score's unit is UCUM {score}", "code-invalid")
        )
    if not any(key in resource for key in ("valueInteger", "valueQuantity")):
        issues.append(
            Issue("Observation.value[x]", "a score needs valueInteger or valueQuantity", "required")
        )
    derived = [reference.get("reference", "") for reference in resource.get("derivedFrom") or ()]
    if not any(str(r).startswith("QuestionnaireResponse/") for r in derived):
        issues.append(
            Issue(
                "Observation.derivedFrom",
                "a score is derived from its QuestionnaireResponse",
                "required",
            )
        )
    return issues


def _episode_issues(resource: Mapping[str, Any]) -> list[Issue]:
    if resource.get("status") in EPISODE_STATUSES:
        return []
    return [
        Issue(
            "EpisodeOfCare.status",
            f"status {resource.get('status')!r} is not one of "
            f"{', '.join(sorted(EPISODE_STATUSES))}",
            "code-invalid",
        )
    ]


def binding_issues(
    resource: Mapping[str, Any], measures: Mapping[str, Measure], base: str
) -> list[Issue]:
    """Layer two: Ally's checks of the codes and bindings the R4B models do not check."""
    kind = resource.get("resourceType")
    if kind == "Questionnaire":
        return _questionnaire_issues(resource, measures, base)
    if kind == "QuestionnaireResponse":
        return _response_issues(resource, measures, base)
    if kind == "Observation":
        return _observation_issues(resource, measures, base)
    if kind == "EpisodeOfCare":
        return _episode_issues(resource)
    if kind == "Bundle":
        issues = []
        if resource.get("type") not in codes.BUNDLE_TYPES:
            issues.append(
                Issue(
                    "Bundle.type",
                    f"type {resource.get('type')!r} is not a Bundle type",
                    "code-invalid",
                )
            )
        for index, entry in enumerate(resource.get("entry") or ()):
            inner = entry.get("resource") or {}
            full_url = str(entry.get("fullUrl", ""))
            if not full_url.endswith(f"/{inner.get('resourceType')}/{inner.get('id')}"):
                issues.append(
                    Issue(
                        f"Bundle.entry[{index}].fullUrl", "the fullUrl does not name its resource"
                    )
                )
            issues += [
                Issue(f"Bundle.entry[{index}].resource.{i.where}", i.message, i.code)
                for i in binding_issues(inner, measures, base)
            ]
        return issues
    return [Issue("resourceType", f"Ally has no checks for {kind!r}", "not-supported")]
