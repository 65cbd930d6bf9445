"""One measure as a form on a phone: its questions in the client's language, the answers read
back from a post, and a message for each answer that cannot be taken.

Ranges come from the measure's own rule (`ally.scoring.validate`), so the form and the write
path refuse the same answers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.utils.translation import get_language
from django.utils.translation import gettext as _

from ally.measures.schema import Measure, Options, Scale, Text
from ally.scoring import Problem, validate
from ally.web.vocabulary import in_practice_words

FALLBACK = "en"
MAX_RAW = 20
"""Longest raw answer kept: a number needs far fewer characters."""


def field_name(number: int) -> str:
    return f"item_{number}"


def text_in(text: Text, language: str | None = None) -> tuple[str, str]:
    """The text in the language asked for, else in English, else in any; with its language.

    Ally's own measure text that a coaching practice words otherwise (the end-of-therapy
    review's, `vocabulary.COACHING`) is its coaching message, in the active language."""
    english = text.get(FALLBACK, "")
    if language is None and english and in_practice_words(english) != english:
        return _(english), (get_language() or FALLBACK).lower().split("-")[0]
    language = (language or get_language() or FALLBACK).lower()
    for code in (language, language.split("-")[0], FALLBACK):
        if text.get(code):
            return text[code], code
    for code, value in text.items():
        if value:
            return value, code
    return "", ""


def _number(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    id: str
    checked: bool


@dataclass(frozen=True)
class Question:
    """One item as shown: a group of radio buttons, or one number field for a scale."""

    number: int
    text: str
    name: str
    id: str
    """The id of the first input, which the error summary links to."""
    choices: tuple[Choice, ...] = ()
    scale: Scale | None = None
    low: str = ""
    high: str = ""
    value: str = ""
    error: str = ""

    @property
    def is_scale(self) -> bool:
        return self.scale is not None


@dataclass(frozen=True)
class Form:
    """A measure ready to show, with the answers and messages of the last attempt."""

    measure: Measure
    language: str
    """The language of the measure's text, which may differ from the interface's."""
    instructions: str
    questions: tuple[Question, ...]
    problems: tuple[str, ...] = ()
    """Messages that concern the whole form rather than one question."""
    errors: tuple[tuple[str, str], ...] = field(default=())
    """(link target, message) for the error summary."""


def _question(
    measure: Measure,
    number: int,
    raw: str,
    error: str,
    clinician: bool = False,
    own_text: str = "",
) -> Question:
    item = measure.item(number)
    text, _lang = text_in(item.clinician_text if clinician and item.clinician_text else item.text)
    text = own_text or text
    text = text or _("Question %(number)s") % {"number": number}
    response = measure.response_of(item)
    name = field_name(number)
    if isinstance(response, Options):
        choices = []
        for index, option in enumerate(response.options):
            value = _number(option.value)
            label, _lang = text_in(option.label)
            choices.append(
                Choice(
                    value=value,
                    label=label or value,
                    id=f"{name}-{index}",
                    checked=raw == value,
                )
            )
        return Question(
            number, text, name, f"{name}-0", choices=tuple(choices), value=raw, error=error
        )
    low, _lang = text_in(response.anchors.get("min", {}))
    high, _lang = text_in(response.anchors.get("max", {}))
    return Question(
        number, text, name, name, scale=response, low=low, high=high, value=raw, error=error
    )


def build(
    measure: Measure,
    raw: Mapping[str, str] | None = None,
    errors: Mapping[int, str] | None = None,
    problems: tuple[str, ...] = (),
    *,
    clinician: bool = False,
    shown: Mapping[int, str] | None = None,
) -> Form:
    """The form of `measure` with the raw answers (by item number as text) filled in; in the
    clinician's wording when `clinician` and the measure has one. `shown`: only these items,
    each with its own text (a client's goals, the items of goal progress)."""
    raw = raw or {}
    errors = errors or {}
    questions = tuple(
        _question(
            measure,
            item.number,
            raw.get(str(item.number), ""),
            errors.get(item.number, ""),
            clinician,
            shown[item.number] if shown is not None else "",
        )
        for item in measure.items
        if shown is None or item.number in shown
    )
    given = measure.clinician_instructions if clinician else {}
    instructions, instructions_lang = text_in(given or measure.instructions)
    first_text = next((text_in(item.text)[1] for item in measure.items if item.text), "")
    summary = tuple(("#" + q.id, q.error) for q in questions if q.error)
    return Form(
        measure=measure,
        language=first_text or instructions_lang,
        instructions=instructions,
        questions=questions,
        problems=problems,
        errors=tuple(("#answers", p) for p in problems) + summary,
    )


def raw_answers(measure: Measure, data: Mapping[str, str]) -> dict[str, str]:
    """The answers as posted, by item number as text; blanks left out."""
    raw = {}
    for item in measure.items:
        value = str(data.get(field_name(item.number), "")).strip()[:MAX_RAW]
        if value:
            raw[str(item.number)] = value
    return raw


def _parse(value: str) -> float | None:
    try:
        number = float(value.replace(",", "."))
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    return number


def _missing_message(measure: Measure, number: int) -> str:
    response = measure.response_of(measure.item(number))
    if isinstance(response, Scale):
        return _("Question %(number)s: give a number from %(min)s to %(max)s.") % {
            "number": number,
            "min": _number(response.min),
            "max": _number(response.max),
        }
    return _("Question %(number)s: choose an answer.") % {"number": number}


def problem_message(measure: Measure, problem: Problem) -> str:
    """A client's words for a problem `ally.scoring` found with one answer."""
    number = problem.item
    if number is None:
        if problem.rule == "wrong_version":
            return _(
                "This questionnaire has changed since your link was made. "
                "Ask your practitioner for a new link."
            )
        return _("These answers cannot be saved. Check each question and try again.")
    response = measure.response_of(measure.item(number))
    if isinstance(response, Scale):
        return _(
            "Question %(number)s: give a number from %(min)s to %(max)s in steps of %(step)s."
        ) % {
            "number": number,
            "min": _number(response.min),
            "max": _number(response.max),
            "step": _number(response.step),
        }
    return _("Question %(number)s: choose one of the answers shown.") % {"number": number}


@dataclass(frozen=True)
class Reading:
    """Posted answers read against a measure: usable answers, or messages saying what to fix."""

    raw: dict[str, str]
    answers: dict[int, float | int | None]
    errors: dict[int, str]
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors and not self.problems


def read(
    measure: Measure,
    data: Mapping[str, str],
    version: str | None = None,
    shown: Mapping[int, str] | None = None,
) -> Reading:
    """Every question must be answered: the scoring rules could prorate gaps, but a client
    answering on their own form can complete it, and a complete answer is worth more. With
    `shown`, the questions are those items only (the others stay unanswered)."""
    raw = raw_answers(measure, data)
    answers: dict[int, float | int | None] = {}
    errors: dict[int, str] = {}
    for item in measure.items:
        value = raw.get(str(item.number), "")
        if shown is not None and item.number not in shown:
            answers[item.number] = None
            raw.pop(str(item.number), None)
            continue
        if not value:
            answers[item.number] = None
            errors[item.number] = _missing_message(measure, item.number)
            continue
        number = _parse(value)
        if number is None:
            answers[item.number] = None
            errors[item.number] = _("Question %(number)s: write a number, like 5 or 7.5.") % {
                "number": item.number
            }
            continue
        answers[item.number] = int(number) if number.is_integer() else number
    given = {n: v for n, v in answers.items() if v is not None}
    problems: list[str] = []
    for problem in validate(measure, given, version):
        if problem.rule == "too_many_missing":
            continue  # each missing answer has its own message already
        if problem.item is None:
            problems.append(problem_message(measure, problem))
        else:
            errors.setdefault(problem.item, problem_message(measure, problem))
    return Reading(raw, answers, dict(sorted(errors.items())), tuple(problems))
