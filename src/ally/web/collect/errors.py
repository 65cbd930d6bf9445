"""Errors of the collection actions, written for the person who submitted or entered answers."""

from __future__ import annotations

from collections.abc import Sequence

from ally.scoring import Problem


class CollectError(Exception):
    """Answers that could not be recorded; nothing was stored."""


class AdministrationClosedError(CollectError):
    """The administration was already completed or has expired."""


class EpisodeEndedError(AdministrationClosedError):
    """The episode has ended: no new forms, and answers only within the grace after its end."""


class InvalidAnswersError(CollectError):
    """Answers the measure cannot score; `problems` name each item and rule."""

    def __init__(self, measure_id: str, problems: Sequence[Problem]) -> None:
        self.measure_id = measure_id
        self.problems = tuple(problems)
        lines = "; ".join(str(problem) for problem in self.problems)
        super().__init__(f"The answers to {measure_id} cannot be scored: {lines}.")

    @property
    def items(self) -> tuple[int, ...]:
        """The item numbers with a problem, for marking them on a form."""
        return tuple(p.item for p in self.problems if p.item is not None)


class IdempotencyConflictError(CollectError):
    """An idempotency key already used for a different submission."""


class AmendmentRefusedError(CollectError):
    """An amendment without a reason, or one that changes nothing."""
