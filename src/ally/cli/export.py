"""`ally export research`: a de-identified research data set of a practice, from the web app's
database (docs/research.md).

A group of its own, beside `ally manage`'s Django commands, because it is a front-door command a
researcher's data manager runs with options of its own; the work is the web app's
(`ally.web.research`), which owns the data, its scoping and its audit, so the page, the API and
this command write the same files.
"""

from __future__ import annotations

from pathlib import Path

import click

from ally.cli.serve import _setup, data_dir_option
from ally.interop.research import DateProfile
from ally.interop.research.deidentify import MIN_CELL


@click.group()
def export() -> None:
    """Export data from Ally's database."""


@export.command("research")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the files (created; files of an earlier export there are replaced).",
)
@click.option(
    "--dates",
    type=click.Choice([p.value for p in DateProfile]),
    default=DateProfile.SHIFT.value,
    show_default=True,
    help="shift: each client's dates moved by their own random number of weeks (intervals "
    "kept); year: the year only, with days since the client's first contact.",
)
@click.option(
    "--min-cell",
    type=click.IntRange(1),
    default=MIN_CELL,
    show_default=True,
    help="Counts in summary.csv below this are suppressed (11: the CMS cell size policy).",
)
@click.option(
    "--organisation",
    "slug",
    help="The practice's short name (as in /o/<name>/); needed when the database holds more "
    "than one.",
)
@data_dir_option
def research(out: Path, dates: str, min_cell: int, slug: str | None, data_dir: Path | None) -> None:
    """Write a de-identified research export of one practice: administrations and episodes as
    CSV (with datapackage.json), Parquet and SPSS .sav, a codebook and summary counts."""
    _setup(data_dir)
    from ally.web.actions.research import do_export_research
    from ally.web.practice.models import Organisation
    from ally.web.research.export import build
    from ally.web.research.models import Via

    organisations = Organisation.objects.order_by("slug")
    if slug is not None:
        organisations = organisations.filter(slug=slug)
    found = list(organisations[:2])
    if not found:
        named = f" named {slug!r}" if slug else ""
        raise click.ClickException(f"No practice{named} in this database.")
    if len(found) > 1:
        known = ", ".join(Organisation.objects.order_by("slug").values_list("slug", flat=True))
        raise click.ClickException(
            f"This database holds several practices; choose one with --organisation ({known})."
        )
    organisation = found[0]
    profile = DateProfile(dates)
    _, record = do_export_research(
        organisation,
        lambda: (None, build(organisation, out, dates=profile, min_cell=min_cell)),
        actor=None,
        via=str(Via.COMMAND),
        dates=profile,
        min_cell=min_cell,
    )
    click.echo(
        f"{organisation.slug}: {record.administrations} administrations of {record.episodes} "
        f"episodes and {record.clients} clients, dates {profile.value}, to {out}"
    )
