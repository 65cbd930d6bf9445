"""Problems found in a FHIR resource, each with where it is and what to do: they become the
issues of an OperationOutcome."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Issue:
    where: str
    """A FHIRPath-like location, e.g. ``QuestionnaireResponse.item[linkId='9']``."""
    message: str
    code: str = "invalid"
    """An OperationOutcome issue type: invalid, required, value, code-invalid, not-found..."""

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class FhirReadError(ValueError):
    """A resource Ally cannot take; `issues` say each thing wrong and where."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues = tuple(issues)
        lines = "\n".join(f"  - {issue}" for issue in self.issues)
        super().__init__(f"The resource cannot be stored:\n{lines}")
