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


def _pins() -> dict[str, str]:
    """The exact pins of pyproject.toml that `make install` installs (dependencies and the dev
    extra), by normalised name."""
    import re
    import tomllib

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())[
        "project"
    ]
    lines = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    pins = {}
    for line in lines:
        name, _, version = line.partition("==")
        name = re.sub(r"\[.*\]", "", name)
        pins[re.sub(r"[-_.]+", "-", name).lower().strip()] = version.split(";")[0].strip()
    return pins


def test_every_pin_of_pyproject_is_in_the_lock_at_the_same_version() -> None:
    """The lock `make audit` checks is the set Ally installs: `make lock` after changing a pin."""
    lock = Path(__file__).resolve().parents[1] / "requirements.lock"
    locked = dict(
        line.split("==", 1)
        for line in lock.read_text().splitlines()
        if line and not line.startswith("#")
    )
    pins = _pins()
    assert pins
    assert {name: locked.get(name) for name in pins} == pins
