"""Shared pieces of the FHIR tests: the shipped library, a base URL and scored records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from ally.interop.fhir import AdministrationRecord, Scores
from ally.measures import Measure, load_library
from ally.measures.schema import Options
from ally.scoring import score

BASE = "https://ally.example.org/fhir"
LIBRARY = load_library()
MEASURES = LIBRARY.measures
AUTHORED = dt.datetime(2026, 3, 2, 10, 15, tzinfo=dt.UTC)


def full_answers(measure: Measure) -> dict[int, float]:
    """Every item answered, cycling through each item's options (or along its line), so that
    every answer value and reverse-keyed item is exercised somewhere."""
    answers = {}
    for item in measure.items:
        response = measure.response_of(item)
        if isinstance(response, Options):
            values = response.values
            answers[item.number] = values[(item.number * 2 + 1) % len(values)]
        else:
            steps = round((response.max - response.min) / response.step)
            answers[item.number] = round(
                response.min + ((item.number * 37) % steps) * response.step, 6
            )
    return answers


def record(
    measure: Measure, answers: Mapping[int, float | None], **fields: object
) -> AdministrationRecord:
    """The record the web app would build: the answers and Ally's own score of them."""
    result = score(measure, answers)
    scores = Scores(
        total=result.total,
        subscales=dict(result.subscales),
        band=result.band,
        prorated=result.prorated,
        answered=result.answered,
    )
    defaults: dict[str, object] = {
        "id": "41",
        "patient": "7",
        "authored": AUTHORED,
        "episode": "9",
        "encounter": "23",
    }
    defaults.update(fields)
    return AdministrationRecord(measure=measure, answers=dict(answers), scores=scores, **defaults)  # type: ignore[arg-type]
