"""`make audit`: pip-audit over requirements.lock against the advisory data kept in
`advisories/`, served on 127.0.0.1 as OSV answers queries. A known vulnerability with a fixed
release fails, one without a fix is a warning, the data's age is told and never fails, and a run
that audited nothing never passes as clean (issue 19: no dependency had been checked)."""

from __future__ import annotations

import importlib.util
import json
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str) -> ModuleType:
    path = ROOT / "tools" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tool() -> ModuleType:
    return _load("audit_dependencies")


NOT_FOUND = {"name": "django", "skip_reason": "Dependency not found on PyPI"}
SNAPSHOT = {"date": "2024-10-10", "source": "https://github.com/pypa/advisory-database"}


def test_a_known_vulnerability_fails_and_names_its_fix() -> None:
    report = {
        "dependencies": [
            {
                "name": "django",
                "version": "5.2.1",
                "vulns": [
                    {"id": "PYSEC-2025-1", "aliases": ["CVE-2025-1"], "fix_versions": ["5.2.2"]}
                ],
            },
            {"name": "click", "version": "8.4.0", "vulns": []},
        ]
    }
    status, message = _tool().verdict(report)
    assert status == 1
    assert "django 5.2.1: PYSEC-2025-1, CVE-2025-1; fixed in 5.2.2" in message


def test_a_vulnerability_without_a_fix_for_the_locked_version_warns_and_passes() -> None:
    """No fixed release, or only one older than the locked version (another branch's fix)."""
    report = {
        "dependencies": [
            {
                "name": "django",
                "version": "5.2.1",
                "vulns": [
                    {"id": "PYSEC-2025-2", "fix_versions": []},
                    {"id": "PYSEC-2025-3", "fix_versions": ["4.2.30"]},
                ],
            }
        ]
    }
    status, message = _tool().verdict(report, SNAPSHOT, date(2025, 1, 1))
    assert status == 0
    assert "warning: django 5.2.1: PYSEC-2025-2; no fix yet" in message
    assert "warning: django 5.2.1: PYSEC-2025-3; no fix yet" in message
    assert "(0 not audited, 2 without a fix yet)" in message


def test_a_clean_report_passes_and_counts_what_it_audited() -> None:
    report = {"dependencies": [{"name": "click", "version": "8.4.0", "vulns": []}, NOT_FOUND]}
    assert _tool().verdict(report) == (
        0,
        "No known vulnerability with a fix in 1 dependencies (1 not audited).",
    )


def test_the_advisory_datas_date_and_age_are_told_and_age_never_fails() -> None:
    report = {"dependencies": [{"name": "click", "version": "8.4.0", "vulns": []}]}
    status, message = _tool().verdict(report, SNAPSHOT, date(2034, 10, 10))
    assert status == 0
    assert message.splitlines()[0] == (
        "Advisory data: https://github.com/pypa/advisory-database as of 2024-10-10 "
        "(3652 days old; `make advisories` refreshes it)."
    )


def test_a_run_that_audited_nothing_says_so_and_fails_where_an_audit_is_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ALLY_AUDIT_REQUIRED", raising=False)
    report = {"dependencies": [NOT_FOUND]}
    status, message = _tool().verdict(report)
    assert (status, message.split(":")[0]) == (0, "NOT AUDITED")
    monkeypatch.setenv("ALLY_AUDIT_REQUIRED", "1")
    assert _tool().verdict(report)[0] == 2


def test_an_offline_run_that_audited_nothing_always_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The repository's data is always there, so auditing nothing against it is a fault."""
    monkeypatch.delenv("ALLY_AUDIT_REQUIRED", raising=False)
    status, message = _tool().verdict({"dependencies": [NOT_FOUND]}, SNAPSHOT, date(2025, 1, 1))
    assert status == 2
    assert "NOT AUDITED" in message


# The OSV matching the local service answers with.

RECORD: dict[str, Any] = {
    "id": "ALLY-TEST-1",
    "modified": "2024-01-02T00:00:00Z",
    "summary": "A made-up advisory",
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "Zope.Interface"},
            "ranges": [
                {
                    "type": "ECOSYSTEM",
                    "events": [
                        {"introduced": "1.0"},
                        {"fixed": "1.2"},
                        {"introduced": "2.0"},
                        {"last_affected": "2.1"},
                    ],
                },
                {"type": "GIT", "repo": "https://example.org/x", "events": [{"introduced": "0"}]},
            ],
            "versions": ["0.5"],
        }
    ],
}


@pytest.mark.parametrize(
    ("version", "affected"),
    [
        ("0.4", False),  # before any range, not listed
        ("0.5", True),  # listed in `versions`
        ("1.0", True),  # introduced
        ("1.1.9", True),  # inside the range
        ("1.2", False),  # the fix
        ("1.3", False),  # after the fix
        ("1.9", False),  # between the ranges
        ("2.0.0", True),  # "2.0" as PEP 440 reads it
        ("2.1", True),  # last_affected is affected
        ("2.1.1", False),  # after last_affected
    ],
)
def test_a_version_is_affected_when_listed_or_within_a_range(version: str, affected: bool) -> None:
    assert _tool().affects(RECORD, "zope-interface", version) is affected


def test_names_match_as_pep_503_normalises_them() -> None:
    tool = _tool()
    for name in ("zope.interface", "Zope_Interface", "zope--interface", "ZOPE-INTERFACE"):
        assert tool.affects(RECORD, name, "1.1")
    assert not tool.affects(RECORD, "zope-interfaces", "1.1")


def test_introduced_zero_covers_every_version_before_the_fix() -> None:
    record = {
        "id": "ALLY-TEST-2",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "click"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "8.1"}]}
                ],
            }
        ],
    }
    tool = _tool()
    assert tool.affects(record, "click", "0.0.dev1")
    assert tool.affects(record, "click", "8.1rc1")
    assert not tool.affects(record, "click", "8.1.0")


def test_a_withdrawn_advisory_is_ignored() -> None:
    withdrawn = {**RECORD, "withdrawn": "2024-02-01T00:00:00Z"}
    assert not _tool().affects(withdrawn, "zope-interface", "1.1")


def test_the_service_answers_as_osv_with_the_fixes_where_pip_audit_reads_them() -> None:
    tool = _tool()
    records = {"zope-interface": [RECORD]}
    question = {"package": {"name": "zope-interface", "ecosystem": "PyPI"}, "version": "1.1"}
    (served,) = tool.query(records, question)["vulns"]
    assert served["id"] == "ALLY-TEST-1"
    assert served["affected"] == [
        {
            "package": {"ecosystem": "PyPI", "name": "zope-interface"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.2"}]}],
        }
    ]
    assert tool.query(records, {**question, "version": "1.2"}) == {}
    assert tool.query(records, {**question, "package": {"name": "click"}}) == {}


# The real tool: pip-audit in a subprocess against the local service.


def _advisories(folder: Path, events: list[dict[str, str]]) -> Path:
    (folder / "pypi").mkdir(parents=True)
    (folder / "snapshot.json").write_text(json.dumps({**SNAPSHOT, "date": "2024-06-01"}))
    record = {
        "id": "ALLY-TEST-3",
        "aliases": ["CVE-0000-0001"],
        "modified": "2024-06-01T00:00:00Z",
        "details": "A made-up advisory for the test.",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "Click"},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        ],
    }
    (folder / "pypi" / "click.json").write_text(json.dumps([record]))
    return folder


def _audit(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lock: str,
    events: list[dict[str, str]],
    *options: str,
) -> int:
    """`make audit` over a lock of `lock` and six, with one advisory for click. (pip-audit names
    a vulnerability by its CVE before the record's own id.)"""
    monkeypatch.delenv("ALLY_AUDIT_ONLINE", raising=False)
    (tmp_path / "requirements.lock").write_text(f"# a test lock\n{lock}\nsix==1.17.0\n")
    folder = _advisories(tmp_path / "advisories", events)
    status: int = _tool().main(
        ["--lock", str(tmp_path / "requirements.lock"), "--advisories", str(folder), *options],
        today=date(2024, 6, 11),
    )
    return status


FIXED = [{"introduced": "0"}, {"fixed": "8.1.0"}]


def test_the_audit_fails_on_a_locked_version_with_a_fixed_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status = _audit(tmp_path, monkeypatch, "click==8.0.0", FIXED)
    out = capsys.readouterr().out
    assert status == 1, out
    assert "click 8.0.0: CVE-0000-0001, ALLY-TEST-3; fixed in 8.1.0" in out
    assert "as of 2024-06-01 (10 days old" in out


def test_the_audit_passes_on_the_fixed_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status = _audit(tmp_path, monkeypatch, "click==8.1.0", FIXED)
    out = capsys.readouterr().out
    assert status == 0, out
    assert "No known vulnerability with a fix in 2 dependencies (0 not audited)." in out


def test_a_vulnerability_reviewed_and_accepted_is_ignored_by_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status = _audit(tmp_path, monkeypatch, "click==8.0.0", FIXED, "--ignore-vuln", "ALLY-TEST-3")
    out = capsys.readouterr().out
    assert status == 0, out
    assert "No known vulnerability with a fix in 2 dependencies (0 not audited)." in out


def test_the_audit_warns_of_a_vulnerability_without_a_fix_and_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status = _audit(tmp_path, monkeypatch, "click==8.0.0", [{"introduced": "7.0"}])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "warning: click 8.0.0: CVE-0000-0001, ALLY-TEST-3; no fix yet" in out


def test_the_audit_without_advisory_data_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ALLY_AUDIT_ONLINE", raising=False)
    (tmp_path / "requirements.lock").write_text("click==8.0.0\n")
    status = _tool().main(
        ["--lock", str(tmp_path / "requirements.lock"), "--advisories", str(tmp_path / "none")]
    )
    assert status == 2
    assert capsys.readouterr().out.startswith("NOT AUDITED: no advisory data")


# The data kept in the repository, and the command that refreshes it.


def test_the_kept_advisories_are_for_locked_packages_and_dated() -> None:
    refresh = _load("refresh_advisories")
    locked = refresh.locked_names(ROOT / "requirements.lock")
    snapshot = json.loads((ROOT / "advisories" / "snapshot.json").read_text())
    date.fromisoformat(snapshot["date"])
    files = sorted((ROOT / "advisories" / "pypi").glob("*.json"))
    assert files
    for path in files:
        assert path.stem in locked
        records = json.loads(path.read_text())
        assert all(path.stem in refresh.affected_names(record) for record in records)
        assert [record["id"] for record in records] == [
            record["id"] for record in sorted(records, key=refresh._by_id)
        ]


def test_the_refresh_keeps_the_records_of_locked_packages_from_a_checkout(tmp_path: Path) -> None:
    checkout = tmp_path / "advisory-database"
    for package, name, ident, modified in [
        ("click", "Click", "PYSEC-2024-10", "2024-03-01T10:00:00Z"),
        ("click", "click", "PYSEC-2024-9", "2024-02-01T10:00:00Z"),
        ("other", "other", "PYSEC-2024-11", "2024-05-01T10:00:00Z"),
    ]:
        folder = checkout / "vulns" / package
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{ident}.yaml").write_text(
            f"id: {ident}\nmodified: {modified}\naffected:\n- package:\n"
            f"    ecosystem: PyPI\n    name: {name}\n  versions:\n  - '1.10'\n"
        )
    lock = tmp_path / "requirements.lock"
    lock.write_text("# pins\nclick==8.0.0\n")
    out = tmp_path / "advisories"
    assert (
        _load("refresh_advisories").main(
            ["--from", str(checkout), "--lock", str(lock), "--advisories", str(out)]
        )
        == 0
    )
    assert [path.name for path in (out / "pypi").iterdir()] == ["click.json"]
    records = json.loads((out / "pypi" / "click.json").read_text())
    assert [record["id"] for record in records] == ["PYSEC-2024-9", "PYSEC-2024-10"]
    assert records[1]["modified"] == "2024-03-01T10:00:00Z"
    assert records[1]["affected"][0]["versions"] == ["1.10"]
    snapshot = json.loads((out / "snapshot.json").read_text())
    assert (snapshot["date"], snapshot["records"]) == ("2024-05-01", 2)
    assert "Snapshot: 2024-05-01" in (out / "README.md").read_text()


def _pins() -> dict[str, str]:
    """The exact pins of pyproject.toml that `make install` installs (dependencies and the dev
    extra), by normalised name."""
    import re
    import tomllib

    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    pins = {}
    for line in lines:
        name, _, version = line.partition("==")
        name = re.sub(r"\[.*\]", "", name)
        pins[canonicalize_name(name.strip())] = version.split(";")[0].strip()
    return pins


def test_every_pin_of_pyproject_is_in_the_lock_at_the_same_version() -> None:
    """The lock `make audit` checks is the set Ally installs: `make lock` after changing a pin."""
    lock = ROOT / "requirements.lock"
    locked = dict(
        line.split("==", 1)
        for line in lock.read_text().splitlines()
        if line and not line.startswith("#")
    )
    pins = _pins()
    assert pins
    assert {name: locked.get(name) for name in pins} == pins
