"""`make audit`: pip-audit over requirements.lock (every package Ally installs, at its locked
version), against the advisory data kept in the repository (`advisories/`, refreshed by
`make advisories`), with a verdict that cannot pass by auditing nothing.

Offline, the default: the records of `advisories/` are served on 127.0.0.1 for the run only,
answering the OSV queries pip-audit makes (`pip-audit -s osv --osv-url ...`), so every locked
package is checked without a network. A known vulnerability that has a fixed release fails
(exit 1); one without a fix yet is a warning and passes; the data's date and age are printed
and its age never fails. A run that audited nothing fails (exit 2).

Online (`--online`, or ALLY_AUDIT_ONLINE=1): pip-audit's own service, PyPI's JSON API, as
before. pip-audit reports a package it found no advisory data for as skipped and still exits
0; behind a package mirror without that API (or offline) that is every package, so a run that
could audit nothing says NOT AUDITED and passes (exit 0) unless ALLY_AUDIT_REQUIRED=1 (exit 2).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess  # nosec B404 # runs pip-audit from this environment, fixed arguments
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parents[1]

Records = dict[str, list[dict[str, Any]]]


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _same(text: str, version: str) -> bool:
    left, right = _version(text), _version(version)
    if left is None or right is None:
        return text == version
    return left == right


def _in_range(version: Version, events: list[dict[str, str]]) -> bool:
    """OSV's evaluation of one ECOSYSTEM range: its events in version order, `introduced` "0"
    (every version) first; affected from an `introduced` at or below the version until a
    `fixed` at or below it, or a `last_affected` below it. An event whose version PEP 440
    cannot read is passed over."""
    affected = False
    ordered: list[tuple[Version, int, str]] = []
    for event in events:
        for kind, text in event.items():
            parsed = _version(text)
            if kind == "introduced" and text == "0":
                affected = True
            elif kind in ("introduced", "fixed", "last_affected") and parsed is not None:
                ordered.append((parsed, 0 if kind == "introduced" else 1, kind))
    for at, _, kind in sorted(ordered):
        if kind == "introduced":
            affected = affected or version >= at
        elif version > at or (kind == "fixed" and version == at):
            affected = False
    return affected


def _entries(record: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The record's `affected` entries for a PyPI package."""
    return [
        affected
        for affected in record.get("affected") or []
        if affected.get("package", {}).get("ecosystem") == "PyPI"
        and canonicalize_name(str(affected["package"].get("name", ""))) == canonicalize_name(name)
    ]


def affects(record: dict[str, Any], name: str, version: str) -> bool:
    """Whether an OSV record, unless withdrawn, affects `name` at `version`: the version is one
    of an entry's `versions`, or within one of its ECOSYSTEM ranges."""
    if record.get("withdrawn"):
        return False
    parsed = _version(version)
    for affected in _entries(record, name):
        if any(_same(listed, version) for listed in affected.get("versions") or []):
            return True
        ranges = [
            list(range_.get("events") or [])
            for range_ in affected.get("ranges") or []
            if range_.get("type") == "ECOSYSTEM"
        ]
        if parsed is not None and any(_in_range(parsed, events) for events in ranges):
            return True
    return False


def _as_served(record: dict[str, Any], name: str) -> dict[str, Any]:
    """The record as pip-audit reads it: pip-audit takes the fixed versions from the first
    ECOSYSTEM range of the first entry whose name is exactly the normalised one, so the entries
    for `name` become one entry under that name with every fixed version of them (those PEP 440
    reads) in one range. Whether the record applies was decided by `affects` already."""
    fixed = sorted(
        {
            event["fixed"]
            for affected in _entries(record, name)
            for range_ in affected.get("ranges") or []
            if range_.get("type") == "ECOSYSTEM"
            for event in range_.get("events") or []
            if "fixed" in event and _version(event["fixed"]) is not None
        },
        key=Version,
    )
    entry = {
        "package": {"ecosystem": "PyPI", "name": canonicalize_name(name)},
        "ranges": [
            {
                "type": "ECOSYSTEM",
                "events": [{"introduced": "0"}, *({"fixed": text} for text in fixed)],
            }
        ],
    }
    return {**record, "affected": [entry]}


def query(records: Records, body: dict[str, Any]) -> dict[str, Any]:
    """The answer of OSV's `/v1/query` to `{"package": {"name", "ecosystem"}, "version"}`:
    `{"vulns": [...]}`, or `{}` when none applies."""
    package = body.get("package") or {}
    name, version = canonicalize_name(str(package.get("name", ""))), str(body.get("version", ""))
    if package.get("ecosystem", "PyPI") != "PyPI" or not version:
        return {}
    found = [
        _as_served(record, name)
        for record in records.get(name, [])
        if affects(record, name, version)
    ]
    return {"vulns": found} if found else {}


def load(folder: Path) -> tuple[Records, dict[str, Any]]:
    """The records of an advisories folder by the normalised names they affect, and its
    snapshot.json."""
    snapshot = json.loads((folder / "snapshot.json").read_text())
    by_name: dict[str, dict[str, dict[str, Any]]] = {}
    for path in sorted((folder / "pypi").glob("*.json")):
        for record in json.loads(path.read_text(encoding="utf-8")):
            for affected in record.get("affected") or []:
                if affected.get("package", {}).get("ecosystem") == "PyPI":
                    name = canonicalize_name(str(affected["package"]["name"]))
                    by_name.setdefault(name, {})[record["id"]] = record
    return {name: list(found.values()) for name, found in by_name.items()}, snapshot


@contextmanager
def serving(records: Records) -> Iterator[str]:
    """An OSV query address on 127.0.0.1 answering from `records`, for the `with` block."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # the name http.server calls
            if self.path != "/v1/query":
                self.send_error(404)
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                answer = json.dumps(query(records, body)).encode()
            except (ValueError, AttributeError):
                self.send_error(400)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: pip-audit reports what matters."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/query"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _fixes(version: str, fix_versions: list[str]) -> list[str]:
    """The fixed releases later than the installed version: a fix of an older branch only is
    no fix for this one."""
    installed = _version(version)
    return [
        fix
        for fix in fix_versions
        if installed is None or (_version(fix) is not None and Version(fix) > installed)
    ]


def verdict(
    report: dict[str, Any],
    snapshot: dict[str, Any] | None = None,
    today: date | None = None,
) -> tuple[int, str]:
    """The exit status and the message for a pip-audit JSON report. `snapshot` is the advisory
    data's snapshot.json when the audit ran against the repository's data (its date and age are
    told, never failed on), None when it ran against PyPI's service."""
    failing, warnings = [], []
    audited = 0
    for dependency in report.get("dependencies", []):
        if "skip_reason" in dependency:
            continue
        audited += 1
        name, version = dependency["name"], dependency["version"]
        for vuln in dependency.get("vulns", []):
            ids = ", ".join([vuln["id"], *vuln.get("aliases", [])])
            fixes = _fixes(version, list(vuln.get("fix_versions") or []))
            if fixes:
                failing.append(f"{name} {version}: {ids}; fixed in {', '.join(fixes)}")
            else:
                warnings.append(f"warning: {name} {version}: {ids}; no fix yet")
    lines = []
    if snapshot is not None:
        taken = date.fromisoformat(snapshot["date"])
        age = ((today or date.today()) - taken).days
        lines.append(
            f"Advisory data: {snapshot.get('source', 'advisories/')} as of {taken} "
            f"({age} days old; `make advisories` refreshes it)."
        )
    lines += warnings
    skipped = len(report.get("dependencies", [])) - audited
    if failing:
        status = 1
        lines.append("Known vulnerabilities with a fixed release:\n  " + "\n  ".join(failing))
    elif audited == 0 and snapshot is not None:
        status = 2
        lines.append("NOT AUDITED: pip-audit checked no dependency against advisories/.")
    elif audited == 0:
        status = 2 if os.environ.get("ALLY_AUDIT_REQUIRED") == "1" else 0
        lines.append(
            "NOT AUDITED: no advisory data for any dependency (no network, or a package mirror "
            "without PyPI's vulnerability data). Run it where pypi.org answers, or offline "
            "(without --online or ALLY_AUDIT_ONLINE=1) against the repository's advisories/."
        )
    else:
        status = 0
        unfixed = f", {len(warnings)} without a fix yet" if warnings else ""
        lines.append(
            f"No known vulnerability with a fix in {audited} dependencies "
            f"({skipped} not audited{unfixed})."
        )
    return status, "\n".join(lines)


def pip_audit(lock: Path, *service: str) -> tuple[dict[str, Any] | None, str]:
    """pip-audit's JSON report over `lock` (None if it gave none) and its error output."""
    with tempfile.TemporaryDirectory() as cache:
        run = subprocess.run(  # nosec B603 # this environment's pip-audit, fixed arguments
            [
                str(Path(sys.executable).with_name("pip-audit")),
                "--requirement",
                str(lock),
                "--no-deps",  # the lock lists every package already
                "--disable-pip",
                "--progress-spinner",
                "off",
                "--format",
                "json",
                "--cache-dir",
                cache,
                *service,
            ],
            capture_output=True,
            text=True,
            check=False,
            # The local service must not be asked through a proxy.
            env={**os.environ, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"},
        )
    try:
        report = json.loads(run.stdout or "null")
    except json.JSONDecodeError:
        report = None
    return (report if isinstance(report, dict) else None), run.stderr.strip()


def main(argv: Sequence[str] | None = None, today: date | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lock", type=Path, default=ROOT / "requirements.lock")
    parser.add_argument("--advisories", type=Path, default=ROOT / "advisories")
    parser.add_argument(
        "--online",
        action="store_true",
        default=os.environ.get("ALLY_AUDIT_ONLINE") == "1",
        help="pip-audit's own service (PyPI) instead of advisories/ (also ALLY_AUDIT_ONLINE=1)",
    )
    parser.add_argument(
        "--ignore-vuln",
        action="append",
        default=[],
        metavar="ID",
        help="a vulnerability reviewed and accepted (its id or an alias); may be repeated",
    )
    arguments = parser.parse_args(argv)
    ignored = [option for vuln in arguments.ignore_vuln for option in ("--ignore-vuln", vuln)]
    if arguments.online:
        report, errors = pip_audit(arguments.lock, *ignored)
        if report is None:
            print(errors or "pip-audit gave no report.", file=sys.stderr)
            return 0 if os.environ.get("ALLY_AUDIT_REQUIRED") != "1" else 2
        status, message = verdict(report)
    else:
        try:
            records, snapshot = load(arguments.advisories)
        except (OSError, ValueError) as error:
            print(f"NOT AUDITED: no advisory data in {arguments.advisories} ({error}).")
            return 2
        with serving(records) as address:
            report, errors = pip_audit(
                arguments.lock, "--vulnerability-service", "osv", "--osv-url", address, *ignored
            )
        if report is None:
            print(errors or "pip-audit gave no report.", file=sys.stderr)
            return 2
        status, message = verdict(report, snapshot, today)
    print(message)
    return status


if __name__ == "__main__":
    sys.exit(main())
