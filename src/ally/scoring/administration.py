"""Validating and scoring one administration: one set of answers to one measure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ally.measures.schema import Measure
from ally.scoring import rules
from ally.scoring.columns import (
    ScoredColumns,
    not_allowed_message,
    score_columns,
    too_few_message,
)

Answers = Mapping[int, float | None] | Sequence[float | None]
"""By item number, or in item order; None marks an unanswered item."""


@dataclass(frozen=True)
class Problem:
    item: int | None
    """The item number, or None for a problem with the whole administration."""
    rule: str
    message: str

    def __str__(self) -> str:
        where = f"item {self.item}" if self.item is not None else "administration"
        return f"{where}: {self.message}"


class ScoringError(ValueError):
    """Answers that cannot be scored; nothing is scored when any problem is found."""

    def __init__(self, measure: Measure, problems: Sequence[Problem]) -> None:
        self.measure_id = measure.id
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{measure.id} {measure.version} cannot be scored:\n{lines}")


@dataclass(frozen=True)
class CriticalAlert:
    item: int
    answer: float
    raises: str
    message: str


@dataclass(frozen=True)
class Score:
    measure: str
    version: str
    total: float
    subscales: Mapping[str, float | None]
    band: str | None
    answered: int
    prorated: bool
    alerts: tuple[CriticalAlert, ...]
    unanswered_critical: tuple[int, ...] = ()
    """Critical items left unanswered: the clinician should ask them in person."""

    @property
    def critical(self) -> bool | None:
        """True when a critical item was endorsed; None when one was skipped and none endorsed."""
        if self.alerts:
            return True
        return None if self.unanswered_critical else False


def _by_number(measure: Measure, answers: Answers) -> tuple[dict[int, float | None], list[Problem]]:
    problems: list[Problem] = []
    n_items = len(measure.items)
    if isinstance(answers, Mapping):
        given = dict(answers)
    else:
        given = {number: value for number, value in enumerate(answers, start=1)}
    for number in sorted(given):
        if not isinstance(number, int) or not 1 <= number <= n_items:
            problems.append(
                Problem(
                    None,
                    "unknown_item",
                    f"answer given for item {number!r}, but {measure.id} has items 1 to {n_items}",
                )
            )
    return {n: given.get(n) for n in range(1, n_items + 1)}, problems


def _typed(measure: Measure, answers: Answers) -> tuple[dict[int, float | None], list[Problem]]:
    """The answers by item number as numbers; every unknown item and non-number is a problem."""
    by_number, problems = _by_number(measure, answers)
    typed: dict[int, float | None] = {}
    for number, value in by_number.items():
        if value is None:
            typed[number] = None
        elif isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            problems.append(Problem(number, "not_a_number", f"answer {value!r} is not a number"))
            typed[number] = None
        else:
            typed[number] = float(value)
    return typed, problems


def _scored(measure: Measure, typed: dict[int, float | None]) -> ScoredColumns:
    row = [np.nan if typed[n] is None else typed[n] for n in range(1, len(measure.items) + 1)]
    return score_columns(measure, np.asarray([row], dtype=np.float64))


def _problems(
    measure: Measure, answers: Answers, version: str | None
) -> tuple[list[Problem], dict[int, float | None], ScoredColumns]:
    typed, problems = _typed(measure, answers)
    if version is not None and version != measure.version:
        problems.insert(
            0,
            Problem(
                None,
                "wrong_version",
                f"answers are for version {version}, but Ally has version {measure.version}",
            ),
        )
    scored = _scored(measure, typed)
    for column in np.flatnonzero(scored.not_allowed[0]):
        number = int(column) + 1
        value = typed[number]
        assert value is not None
        message = not_allowed_message(measure, number, value)
        problems.append(Problem(number, "out_of_range", message))
    problems.sort(key=lambda p: (p.item is not None, p.item or 0))
    if scored.too_few[0]:
        problems.append(
            Problem(None, "too_many_missing", too_few_message(measure, int(scored.answered[0])))
        )
    return problems, typed, scored


def validate(measure: Measure, answers: Answers, version: str | None = None) -> list[Problem]:
    """Every problem with the answers, in item order; an empty list means they can be scored."""
    return _problems(measure, answers, version)[0]


def score(measure: Measure, answers: Answers, version: str | None = None) -> Score:
    """Score the answers, or raise ScoringError naming every item and rule that fails."""
    problems, typed, scored = _problems(measure, answers, version)
    if problems:
        raise ScoringError(measure, problems)
    total = float(scored.total[0])
    alerts = tuple(
        CriticalAlert(
            item=crit.item,
            answer=float(typed[crit.item]),  # type: ignore[arg-type]
            raises=crit.raises,
            message=crit.message.get("en", next(iter(crit.message.values()), "")),
        )
        for k, crit in enumerate(measure.critical_items)
        if scored.endorsed[0, k]
    )
    return Score(
        measure=measure.id,
        version=measure.version,
        total=total,
        subscales={
            sub: None if np.isnan(value[0]) else float(value[0])
            for sub, value in scored.subscales.items()
        },
        band=rules.band_of(total, measure.bands),
        answered=int(scored.answered[0]),
        prorated=bool(scored.prorated[0]),
        alerts=alerts,
        unanswered_critical=tuple(
            crit.item for k, crit in enumerate(measure.critical_items) if scored.skipped[0, k]
        ),
    )
