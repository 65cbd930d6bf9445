"""`make audit`: pip-audit over requirements.lock (every package Ally installs, at its locked
version), with a verdict that cannot pass by auditing nothing.

pip-audit reports a package it found no advisory data for as skipped and still exits 0; behind
a package mirror without PyPI's JSON API (or offline) that is every package. So: a known
vulnerability fails (exit 1); a run that could audit nothing says so plainly and passes (exit 0)
unless ALLY_AUDIT_REQUIRED=1, for the CI machine that has a network (exit 2).
"""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404 # runs pip-audit from this environment, fixed arguments
import sys
from pathlib import Path
from typing import Any


def verdict(report: dict[str, Any]) -> tuple[int, str]:
    """The exit status and the message for a pip-audit JSON report."""
    found = []
    audited = 0
    for dependency in report.get("dependencies", []):
        if "skip_reason" in dependency:
            continue
        audited += 1
        for vuln in dependency.get("vulns", []):
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fix yet"
            found.append(f"{dependency['name']} {dependency['version']}: {vuln['id']} ({fixes})")
    if found:
        return 1, "Known vulnerabilities:\n  " + "\n  ".join(found)
    if audited == 0:
        status = 2 if os.environ.get("ALLY_AUDIT_REQUIRED") == "1" else 0
        return status, (
            "NOT AUDITED: no advisory data for any dependency (no network, or a package mirror "
            "without PyPI's vulnerability data). Run `make audit` where pypi.org answers."
        )
    skipped = len(report.get("dependencies", [])) - audited
    return 0, f"No known vulnerabilities in {audited} dependencies ({skipped} not audited)."


def main() -> int:
    pip_audit = Path(sys.executable).with_name("pip-audit")
    lock = Path(__file__).resolve().parents[1] / "requirements.lock"
    run = subprocess.run(  # nosec B603 # this environment's pip-audit, fixed arguments
        [
            str(pip_audit),
            "--requirement",
            str(lock),
            "--no-deps",  # the lock lists every package already
            "--disable-pip",
            "--progress-spinner",
            "off",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report = json.loads(run.stdout or "{}")
    except json.JSONDecodeError:
        print(run.stderr.strip() or "pip-audit gave no report.", file=sys.stderr)
        return 0 if os.environ.get("ALLY_AUDIT_REQUIRED") != "1" else 2
    status, message = verdict(report)
    print(message)
    return status


if __name__ == "__main__":
    sys.exit(main())
