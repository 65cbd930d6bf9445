"""A measure as an SDC Questionnaire: its items, answer options with their scored values, and a
calculated total.

Shape from the HL7 SDC PHQ-9 example (HL7/sdc, input/examples/questionnaire-sdc-profile-example-
PHQ9.json): answerOption.valueCoding with the ordinalValue extension, and the total as a
read-only item with a calculatedExpression. Item text appears only where the licence lets Ally
ship it (``licence.text_may_ship``) or a licensee supplied it; otherwise the items carry codes,
answer values and their weights only.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from ally.interop.fhir import codes
from ally.measures.schema import Item, Measure, Option, Options, Scale

Resource = dict[str, Any]

TOTAL_EXPRESSION = "%resource.answers().value.ordinal().sum()"
"""The SDC example's calculated total: the sum of the chosen answers' ordinal values."""


def text_language(measure: Measure, language: str) -> str | None:
    """The language the Questionnaire's text is in: `language` if the measure has it, else
    English, else none (a measure whose text is not shipped)."""
    if language in measure.languages:
        return language
    if "en" in measure.languages:
        return "en"
    return None


def _computable_name(measure: Measure) -> str:
    # FHIR's name invariant (qst-0 in R4): "^[A-Z]([A-Za-z0-9_]){0,254}$".
    parts = re.split(r"[^A-Za-z0-9]+", measure.id)
    name = "".join(part[:1].upper() + part[1:] for part in parts if part)
    return name if name[:1].isalpha() else f"Measure{name}"


def scored_value(measure: Measure, item: Item, value: float) -> float:
    """What an answer adds to the total: the value, or (min + max) - value when reverse-keyed."""
    response = measure.response_of(item)
    if item.reverse:
        return response.minimum + response.maximum - value
    return value


def _decimal(value: float) -> int | float:
    """A value as JSON writes it: whole numbers without ".0"."""
    return int(value) if float(value).is_integer() else value


def option_coding(
    measure: Measure, option: Option, language: str | None, base: str
) -> dict[str, Any]:
    """The coding of an answer option: its LOINC answer code where it has one (LL358-3 for the
    PHQ-9 and GAD-7), else Ally's code for the measure; the label only where it may ship."""
    if "loinc" in option.codes:
        coding: dict[str, Any] = {"system": codes.LOINC, "code": option.codes["loinc"]}
    else:
        coding = {
            "system": codes.code_system_url(base, measure.id),
            "code": codes.answer_code(option.value),
        }
    if language is not None and option.label.get(language):
        coding["display"] = option.label[language]
    return coding


def item_codings(measure: Measure, item: Item, base: str) -> list[dict[str, Any]]:
    if "loinc" in item.codes:
        return [{"system": codes.LOINC, "code": item.codes["loinc"]}]
    return [
        {"system": codes.code_system_url(base, measure.id), "code": codes.item_code(item.number)}
    ]


def total_codings(measure: Measure, base: str) -> list[dict[str, Any]]:
    """The total's codes: LOINC and SNOMED CT where the measure file gives them (PHQ-9 44261-6,
    GAD-7 70274-6), else Ally's."""
    found = []
    if "loinc_total" in measure.codes:
        found.append({"system": codes.LOINC, "code": measure.codes["loinc_total"]})
    if "snomed_total" in measure.codes:
        found.append({"system": codes.SNOMED, "code": measure.codes["snomed_total"]})
    return found or [
        {"system": codes.code_system_url(base, measure.id), "code": codes.TOTAL_LINK_ID}
    ]


def subscale_codings(measure: Measure, subscale_id: str, base: str) -> list[dict[str, Any]]:
    return [{"system": codes.code_system_url(base, measure.id), "code": subscale_id}]


def integer_scored(measure: Measure) -> bool:
    """Whether complete answers always give a whole-number total: a sum of whole-number options.
    Scores of such a measure are valueInteger unless prorated."""
    if measure.scoring.method != "sum" or not float(measure.scoring.multiplier).is_integer():
        return False
    for item in measure.items:
        response = measure.response_of(item)
        if not isinstance(response, Options):
            return False
        if not all(float(value).is_integer() for value in response.values):
            return False
    return True


def _decimal_places(step: float) -> int:
    exponent = Decimal(repr(step)).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def _item(measure: Measure, item: Item, language: str | None, base: str) -> Resource:
    response = measure.response_of(item)
    found: Resource = {"linkId": str(item.number), "code": item_codings(measure, item, base)}
    if language is not None and item.text.get(language):
        found["text"] = item.text[language]
    if measure.scoring.min_answered == len(measure.items):
        found["required"] = True
    if isinstance(response, Options):
        found["type"] = "choice"
        found["answerOption"] = [
            {
                "extension": [
                    {
                        "url": codes.ORDINAL_VALUE,
                        "valueDecimal": _decimal(scored_value(measure, item, option.value)),
                    }
                ],
                "valueCoding": option_coding(measure, option, language, base),
            }
            for option in response.options
        ]
    else:
        found["type"] = "decimal"
        found["extension"] = _scale_extensions(response)
    return found


def _scale_extensions(scale: Scale) -> list[dict[str, Any]]:
    return [
        {"url": codes.MIN_VALUE, "valueDecimal": _decimal(scale.min)},
        {"url": codes.MAX_VALUE, "valueDecimal": _decimal(scale.max)},
        {"url": codes.MAX_DECIMAL_PLACES, "valueInteger": _decimal_places(scale.step)},
    ]


def _total_item(measure: Measure, base: str) -> Resource:
    item: Resource = {
        "linkId": codes.TOTAL_LINK_ID,
        "code": total_codings(measure, base),
        "text": "Total score",
        "type": "decimal",
        "readOnly": True,
    }
    if measure.scoring.method == "sum" and all(
        isinstance(measure.response_of(i), Options) for i in measure.items
    ):
        # The plain sum of complete answers; Ally itself also prorates missing ones where the
        # measure allows, so the stored total is Ally's, not this expression's.
        item["extension"] = [
            {
                "url": codes.CALCULATED_EXPRESSION,
                "valueExpression": {
                    "description": "Total score",
                    "language": "text/fhirpath",
                    "expression": TOTAL_EXPRESSION
                    if measure.scoring.multiplier == 1
                    else f"({TOTAL_EXPRESSION}) * {measure.scoring.multiplier:g}",
                },
            }
        ]
    return item


def copyright_text(measure: Measure) -> str:
    """The measure's licence as its file records it: name, required attribution, source."""
    parts = [measure.licence.name.rstrip(".") + "."]
    if measure.licence.attribution:
        parts.append(measure.licence.attribution)
    parts.append(f"Terms: {' '.join(measure.licence.source.split())}")
    if not measure.licence.text_may_ship:
        parts.append("Ally ships no item text for this measure; licensees supply their own.")
    return " ".join(parts)


def questionnaire(measure: Measure, language: str, base: str) -> Resource:
    """The measure as an SDC Questionnaire, with text in `language` where it ships.

    `base` is the FHIR base URL of the server that publishes it; the canonical URL and Ally's
    code system for the measure start with it.
    """
    lang = text_language(measure, language)
    resource: Resource = {
        "resourceType": "Questionnaire",
        "id": codes.fhir_id(measure.id),
        "meta": {"profile": [codes.SDC_QUESTIONNAIRE]},
        "url": codes.questionnaire_url(base, measure.id),
        "version": measure.version,
        "name": _computable_name(measure),
        "title": measure.name,
        "status": "active",
        "subjectType": ["Patient"],
        "description": " ".join(measure.citation.split())
        + ("" if measure.validated else " Not externally validated."),
        "copyright": copyright_text(measure),
    }
    if lang is not None:
        resource["language"] = lang
    if "loinc_panel" in measure.codes:
        resource["code"] = [{"system": codes.LOINC, "code": measure.codes["loinc_panel"]}]
    items: list[Resource] = []
    if lang is not None and measure.instructions.get(lang):
        items.append(
            {
                "linkId": codes.INSTRUCTIONS_LINK_ID,
                "type": "display",
                "text": " ".join(measure.instructions[lang].split()),
            }
        )
    items += [_item(measure, item, lang, base) for item in measure.items]
    items.append(_total_item(measure, base))
    resource["item"] = items
    return resource
