"""`make audit`'s verdict on a pip-audit report: a known vulnerability fails, and a run that
audited nothing never passes as clean (issue 19: no dependency had been checked)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest


def _tool() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "tools" / "audit_dependencies.py"
    spec = importlib.util.spec_from_file_location("audit_dependencies", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NOT_FOUND = {"name": "django", "skip_reason": "Dependency not found on PyPI"}


def test_a_known_vulnerability_fails_and_names_its_fix() -> None:
    report = {
        "dependencies": [
            {
                "name": "django",
                "version": "5.2.1",
                "vulns": [{"id": "PYSEC-2025-1", "fix_versions": ["5.2.2"]}],
            },
            {"name": "click", "version": "8.4.0", "vulns": []},
        ]
    }
    status, message = _tool().verdict(report)
    assert status == 1
    assert "django 5.2.1: PYSEC-2025-1 (5.2.2)" in message


def test_a_clean_report_passes_and_counts_what_it_audited() -> None:
    report = {"dependencies": [{"name": "click", "version": "8.4.0", "vulns": []}, NOT_FOUND]}
    assert _tool().verdict(report) == (
        0,
        "No known vulnerabilities in 1 dependencies (1 not audited).",
    )


def test_a_run_that_audited_nothing_says_so_and_fails_where_an_audit_is_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    report = {"dependencies": [NOT_FOUND]}
    status, message = _tool().verdict(report)
    assert (status, message.split(":")[0]) == (0, "NOT AUDITED")
    monkeypatch.setenv("ALLY_AUDIT_REQUIRED", "1")
    assert _tool().verdict(report)[0] == 2
