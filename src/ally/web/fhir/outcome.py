"""FHIR's replies: resources in application/fhir+json, and every refusal as an OperationOutcome
whose diagnostics say what was wrong and what to do."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.http import HttpResponse

from ally.interop.fhir import Issue

CONTENT_TYPE = "application/fhir+json; charset=utf-8"


def resource_reply(resource: dict[str, Any], status: int = 200, **headers: str) -> HttpResponse:
    body = json.dumps(resource, ensure_ascii=False, separators=(",", ":"))
    return HttpResponse(body, status=status, content_type=CONTENT_TYPE, headers=headers)


class FhirRefusalError(Exception):
    """A request refused with an OperationOutcome; raised anywhere below a view."""

    def __init__(self, status: int, issues: Sequence[Issue]) -> None:
        self.status = status
        self.issues = tuple(issues)
        super().__init__("; ".join(str(issue) for issue in self.issues))

    @classmethod
    def one(cls, status: int, message: str, code: str, where: str = "") -> FhirRefusalError:
        return cls(status, [Issue(where, message, code)])


def operation_outcome(issues: Sequence[Issue]) -> dict[str, Any]:
    found = []
    for issue in issues:
        entry: dict[str, Any] = {
            "severity": "error",
            "code": issue.code,
            "diagnostics": issue.message,
        }
        if issue.where:
            entry["expression"] = [issue.where]
        found.append(entry)
    return {"resourceType": "OperationOutcome", "issue": found}


def refusal_reply(refusal: FhirRefusalError) -> HttpResponse:
    return resource_reply(operation_outcome(refusal.issues), status=refusal.status)
