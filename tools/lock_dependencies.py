"""`make lock`: write requirements.lock, every package `pip install -e '.[dev]'` installs
(direct and transitive) at one exact version, as pip resolves Ally's pins from the package index
today. `make audit` checks the locked set for known vulnerabilities; a test checks that every pin
in pyproject.toml is in the lock at the same version.
"""

from __future__ import annotations

import json
import subprocess  # nosec B404 # runs this environment's pip, fixed arguments
import sys
import tempfile
from pathlib import Path

from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
HEADER = """\
# Every package Ally installs with its dev extra, at the version pip resolved from the exact pins
# in pyproject.toml. Regenerate with `make lock` after changing a pin; `make audit` checks it.
"""


def resolved() -> dict[str, str]:
    """Name and version of each package pip would install (a dry run: nothing is installed)."""
    with tempfile.TemporaryDirectory() as work:
        report = Path(work) / "report.json"
        subprocess.run(  # nosec B603 # this environment's pip, fixed arguments
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--dry-run",
                "--ignore-installed",
                "--quiet",
                "--report",
                str(report),
                f"{ROOT}[dev]",
            ],
            check=True,
        )
        data = json.loads(report.read_text())
    found = {}
    for item in data["install"]:
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        normal = canonicalize_name(name)  # PEP 503
        if normal != "ally":
            found[normal] = version
    return dict(sorted(found.items()))


def main() -> int:
    packages = resolved()
    LOCK.write_text(HEADER + "".join(f"{name}=={version}\n" for name, version in packages.items()))
    print(f"Wrote {LOCK.name}: {len(packages)} packages.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
