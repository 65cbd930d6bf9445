"""A research export of one practice: read the tables, de-identify them, write the files.

`build` reads and writes; `do_export_research` (actions) runs it and records the export. The
export's pseudonyms and date offsets exist only while it runs: nothing links it back to the
database afterwards, not even for Ally.
"""

from __future__ import annotations

import io
import random
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from django.utils import timezone

from ally.interop.research import DateProfile
from ally.web.practice.models import Organisation
from ally.web.research.files import write_package
from ally.web.research.tables import TABLES, Export, Table, in_practice_labels, summary


@dataclass(frozen=True)
class Built:
    """What an export wrote: its files, and the counts its audit keeps."""

    files: tuple[Path, ...]
    clients: int
    episodes: int
    administrations: int


def describe(dates: DateProfile, min_cell: int) -> str:
    """The export's de-identification, for its data package, .sav note and Parquet metadata."""
    if dates is DateProfile.YEAR:
        when = "dates are cut to the year, with days since each client's first contact"
    else:
        when = (
            "each client's dates are shifted by their own random whole number of weeks "
            "(intervals and weekdays kept)"
        )
    return (
        "De-identified data of an Ally practice: random pseudonyms, new in every export; no "
        f"names, contact details, codes or free text; {when}; counts in summary.csv from 1 to "
        f"{min_cell - 1} suppressed. See codebook.csv and Ally's docs/research.md."
    )


def build(
    organisation: Organisation,
    folder: Path,
    *,
    dates: DateProfile = DateProfile.SHIFT,
    min_cell: int,
    rng: random.Random | None = None,
) -> Built:
    """Write the export of `organisation` into `folder`."""
    export = Export(organisation, dates) if rng is None else Export(organisation, dates, rng)
    tables: list[Table] = [in_practice_labels(make(export), organisation) for make in TABLES]
    counts = summary(tables, min_cell)
    files = write_package(
        tables,
        counts,
        folder,
        description=describe(dates, min_cell),
        created=timezone.now().isoformat(timespec="seconds"),
    )
    by_name = {t.name: t for t in tables}
    return Built(
        files=tuple(files),
        clients=len(export.clients),
        episodes=len(export.episodes),
        administrations=len(by_name["administrations"].rows),
    )


def zipped(files: tuple[Path, ...]) -> bytes:
    """The files in one ZIP, flat."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, arcname=path.name)
    return buffer.getvalue()


def build_zip(
    organisation: Organisation, *, dates: DateProfile, min_cell: int
) -> tuple[bytes, Built]:
    """The export as one ZIP, written in a private temporary folder removed at once."""
    with tempfile.TemporaryDirectory(prefix="ally-research-") as tmp:
        built = build(organisation, Path(tmp) / "export", dates=dates, min_cell=min_cell)
        return zipped(built.files), built


def file_name(dates: DateProfile, day: str) -> str:
    """The download's name: the day and the profile, nothing about the practice's clients."""
    return f"ally-research-{day}-{dates.value}.zip"
