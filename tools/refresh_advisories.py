"""`make advisories`: the advisory data `make audit` reads, refreshed into `advisories/`.

Keeps the OSV records (https://ossf.github.io/osv-schema/) that affect a package of
requirements.lock, matched by PEP 503 normalised name, one JSON file per package
(`advisories/pypi/<name>.json`, records sorted by id), and writes the snapshot's date into
`advisories/snapshot.json` and `advisories/README.md`.

Where a network exists it downloads OSV's export of every PyPI record (ALL_ZIP). With
`--from DIR` it reads a local checkout of github.com/pypa/advisory-database instead (the YAML
files under DIR/vulns/); the snapshot's date is then the checkout's commit date when DIR is a
git work tree, else the newest `modified` date of its records.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess  # nosec B404 # runs git on the checkout named by --from, fixed arguments
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
ALL_ZIP = "https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip"
PYPA = "https://github.com/pypa/advisory-database"


def locked_names(lock: Path) -> set[str]:
    """The normalised names of the packages in a lock file of `name==version` lines."""
    return {
        canonicalize_name(line.split("==", 1)[0].strip())
        for line in lock.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }


class _Loader(yaml.SafeLoader):
    """YAML without timestamps: `modified: 2024-10-10T17:22:00Z` stays the string it is in OSV's
    JSON, not a datetime."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def pypa_records(folder: Path) -> Iterator[dict[str, Any]]:
    """Every record of a pypa/advisory-database checkout."""
    for path in sorted((folder / "vulns").rglob("*.yaml")):
        loader = _Loader(path.read_text(encoding="utf-8"))
        try:
            record = loader.get_single_data()
        finally:
            loader.dispose()
        if isinstance(record, dict):
            yield record


def zip_records(archive: Path) -> Iterator[dict[str, Any]]:
    """Every record of OSV's export (a zip of one JSON file per record)."""
    with zipfile.ZipFile(archive) as opened:
        for member in sorted(opened.namelist()):
            if member.endswith(".json"):
                record = json.loads(opened.read(member))
                if isinstance(record, dict):
                    yield record


def affected_names(record: dict[str, Any]) -> set[str]:
    """The normalised names of the PyPI packages a record affects."""
    return {
        canonicalize_name(str(affected["package"]["name"]))
        for affected in record.get("affected") or []
        if affected.get("package", {}).get("ecosystem") == "PyPI"
    }


def _by_id(record: dict[str, Any]) -> list[Any]:
    """PYSEC-2024-9 before PYSEC-2024-10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", record["id"])]


def _check_strings(record: dict[str, Any]) -> None:
    """Versions must be strings: YAML would read an unquoted 1.10 as the number 1.1."""
    for affected in record.get("affected") or []:
        versions = list(affected.get("versions") or [])
        for range_ in affected.get("ranges") or []:
            versions += [value for event in range_.get("events") or [] for value in event.values()]
        if not all(isinstance(version, str) for version in versions):
            raise ValueError(f"{record['id']}: a version that is not a string")


def keep(
    records: Iterator[dict[str, Any]], names: set[str]
) -> tuple[dict[str, list[dict[str, Any]]], str]:
    """The records affecting `names`, by package, and the newest `modified` of all records."""
    kept: dict[str, list[dict[str, Any]]] = {}
    newest = ""
    for record in records:
        newest = max(newest, str(record.get("modified", "")))
        for name in sorted(affected_names(record) & names):
            _check_strings(record)
            kept.setdefault(name, []).append(record)
    for package in kept.values():
        package.sort(key=_by_id)
    return kept, newest


def _commit(folder: Path) -> tuple[str, str] | None:
    """The hash and commit date (YYYY-MM-DD) of a git work tree, or None."""
    git = shutil.which("git")
    if git is None or not (folder / ".git").exists():
        return None
    shown = subprocess.run(  # nosec B603 # git log on the checkout passed with --from
        [git, "-C", str(folder), "log", "-1", "--format=%H %cI"],
        capture_output=True,
        text=True,
        check=False,
    )
    if shown.returncode != 0 or not shown.stdout.strip():
        return None
    commit, date = shown.stdout.split()
    return commit, date[:10]


README = """\
# Advisory data for `make audit`

OSV records (https://ossf.github.io/osv-schema/) of known vulnerabilities in the packages of
`requirements.lock`, one JSON file per package in `pypi/`, kept so that `make audit`
(`tools/audit_dependencies.py`) can check every locked version without a network.

- Source: {source}
- Snapshot: {date}; {count} records affecting {packages} of the locked packages.
- Licence: {licence}
  Kept here: the records naming a locked package, each whole, in JSON; none is changed.

Refresh where a network exists (OSV's export of every PyPI record, {zip}):

```sh
make advisories
```

or from a local checkout of {pypa}:

```sh
.venv/bin/python tools/refresh_advisories.py --from path/to/advisory-database
```

`make audit` prints the snapshot's date and its age; it does not fail on age. Refresh after
`make lock` adds a package, and before a release.
"""

PYPA_LICENCE = (
    "Creative Commons Attribution 4.0 International (CC-BY 4.0), the licence of\n"
    "  pypa/advisory-database (its LICENSE file); the data is the Python Packaging Advisory\n"
    "  Database's."
)
ZIP_LICENCE = (
    "each record's, that of the database OSV.dev took it from (the record's id\n"
    "  prefix; PYSEC: the Python Packaging Advisory Database, CC-BY 4.0); OSV.dev lists its\n"
    "  sources and their licences at https://google.github.io/osv.dev/data/."
)


def write(
    folder: Path,
    kept: dict[str, list[dict[str, Any]]],
    snapshot: dict[str, Any],
    licence: str,
) -> int:
    """Replace the advisory data in `folder` with `kept`; the number of records written."""
    packages = folder / "pypi"
    if packages.exists():
        for old in packages.glob("*.json"):
            old.unlink()
    packages.mkdir(parents=True, exist_ok=True)
    for name, records in sorted(kept.items()):
        text = json.dumps(records, indent=1, sort_keys=True, ensure_ascii=False)
        (packages / f"{name}.json").write_text(text + "\n", encoding="utf-8")
    count = len({record["id"] for records in kept.values() for record in records})
    snapshot = {**snapshot, "records": count, "packages": len(kept)}
    (folder / "snapshot.json").write_text(json.dumps(snapshot, indent=1, sort_keys=True) + "\n")
    source = snapshot["source"]
    if "commit" in snapshot:
        source += f" at commit {snapshot['commit']}"
    (folder / "README.md").write_text(
        README.format(
            source=source,
            date=snapshot["date"],
            count=count,
            packages=len(kept),
            licence=licence,
            zip=ALL_ZIP,
            pypa=PYPA,
        )
    )
    return count


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        help="a local checkout of pypa/advisory-database, instead of downloading OSV's export",
    )
    parser.add_argument("--lock", type=Path, default=ROOT / "requirements.lock")
    parser.add_argument("--advisories", type=Path, default=ROOT / "advisories")
    arguments = parser.parse_args(argv)
    names = locked_names(arguments.lock)
    snapshot: dict[str, Any]
    if arguments.source is not None:
        if not (arguments.source / "vulns").is_dir():
            print(f"{arguments.source} has no vulns/ folder.", file=sys.stderr)
            return 2
        kept, newest = keep(pypa_records(arguments.source), names)
        snapshot = {"source": PYPA, "newest_modified": newest, "date": newest[:10]}
        commit = _commit(arguments.source)
        if commit is not None:
            snapshot.update(commit=commit[0], date=commit[1])
        licence = PYPA_LICENCE
    else:
        with tempfile.TemporaryDirectory() as folder:
            archive = Path(folder) / "all.zip"
            print(f"Downloading {ALL_ZIP} ...")
            with (
                urllib.request.urlopen(ALL_ZIP, timeout=120) as response,  # nosec B310 # constant https
                archive.open("wb") as out,
            ):
                shutil.copyfileobj(response, out)
            kept, newest = keep(zip_records(archive), names)
        snapshot = {"source": ALL_ZIP, "newest_modified": newest, "date": newest[:10]}
        licence = ZIP_LICENCE
    if not newest:
        print("The source held no records.", file=sys.stderr)
        return 2
    count = write(arguments.advisories, kept, snapshot, licence)
    print(
        f"{arguments.advisories}: {count} records for {len(kept)} of {len(names)} locked "
        f"packages, snapshot of {snapshot['date']}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
