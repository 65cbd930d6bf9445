"""Validating and scoring one administration: one set of answers to one measure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ally.measures.schema import Measure, Subscale
from ally.scoring import rules

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


def validate(measure: Measure, answers: Answers, version: str | None = None) -> list[Problem]:
    """Every problem with the answers, in item order; an empty list means they can be scored."""
    by_number, problems = _by_number(measure, answers)
    if version is not None and version != measure.version:
        problems.insert(
            0,
            Problem(
                None,
                "wrong_version",
                f"answers are for version {version}, but Ally has version {measure.version}",
            ),
        )
    for number, value in by_number.items():
        if value is None:
            continue
        response = measure.response_of(measure.item(number))
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            problems.append(Problem(number, "not_a_number", f"answer {value!r} is not a number"))
        elif not response.accepts(float(value)):
            if response.type == "options":
                allowed = ", ".join(f"{v:g}" for v in response.values)
                rule = f"one of {allowed}"
            else:
                rule = f"from {response.min:g} to {response.max:g} in steps of {response.step:g}"
            problems.append(
                Problem(number, "out_of_range", f"answer {value:g} is not allowed; give {rule}")
            )
    answered = sum(value is not None for value in by_number.values())
    if answered < measure.scoring.min_answered:
        problems.append(
            Problem(
                None,
                "too_many_missing",
                f"{answered} of {len(measure.items)} items answered; "
                f"at least {measure.scoring.min_answered} are needed for a score",
            )
        )
    return problems


def _combine(measure: Measure, keyed: Mapping[int, float], numbers: Sequence[int]) -> float:
    present = [keyed[n] for n in numbers if n in keyed]
    total = sum(present)
    if measure.scoring.method == "mean":
        return rules.mean_score(total, len(present))
    if measure.scoring.prorate and len(present) < len(numbers):
        return rules.prorated_sum(total, len(present), len(numbers))
    return total


def _subscale(measure: Measure, sub: Subscale, keyed: Mapping[int, float]) -> float | None:
    answered = sum(n in keyed for n in sub.items)
    if answered < rules.required_answers(measure, sub):
        return None
    if (
        answered < len(sub.items)
        and measure.scoring.method == "sum"
        and not measure.scoring.prorate
    ):
        return None
    return _combine(measure, keyed, sub.items)


def score(measure: Measure, answers: Answers, version: str | None = None) -> Score:
    """Score the answers, or raise ScoringError naming every item and rule that fails."""
    problems = validate(measure, answers, version)
    if problems:
        raise ScoringError(measure, problems)
    by_number, _ = _by_number(measure, answers)
    keyed: dict[int, float] = {}
    for number, value in by_number.items():
        if value is None:
            continue
        item = measure.item(number)
        response = measure.response_of(item)
        keyed[number] = rules.keyed(float(value), response.minimum, response.maximum, item.reverse)
    numbers = [item.number for item in measure.items]
    total = _combine(measure, keyed, numbers)
    alerts = tuple(
        CriticalAlert(
            item=crit.item,
            answer=float(value),
            raises=crit.raises,
            message=crit.message.get("en", next(iter(crit.message.values()), "")),
        )
        for crit in measure.critical_items
        if (value := by_number[crit.item]) is not None and rules.is_critical(value, crit.min_value)
    )
    return Score(
        measure=measure.id,
        version=measure.version,
        total=total,
        subscales={sub.id: _subscale(measure, sub, keyed) for sub in measure.scoring.subscales},
        band=rules.band_of(total, measure.bands),
        answered=len(keyed),
        prorated=len(keyed) < len(numbers)
        and measure.scoring.method == "sum"
        and measure.scoring.prorate,
        alerts=alerts,
        unanswered_critical=tuple(
            crit.item
            for crit in measure.critical_items
            if crit.must_answer and by_number[crit.item] is None
        ),
    )
