"""`ally ipr agreement`: how far client and clinician agree on recordings' moments, from a
marks export (the staff app's "Marks as CSV" or any file with the same columns)."""

from __future__ import annotations

import csv
import sys
from contextlib import nullcontext
from pathlib import Path

import click

from ally.ipr.agreement import OUTPUT_COLUMNS, SEGMENT, TOLERANCE, agreements, as_row
from ally.ipr.marks import MarkError, marks_from_rows


@click.group()
def ipr() -> None:
    """Interpersonal Process Recall: marks of recorded sessions by client and clinician."""


@ipr.command("agreement")
@click.argument("marks_file", metavar="MARKS.csv", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--segment",
    type=click.FloatRange(min=0, min_open=True),
    default=SEGMENT,
    show_default=True,
    help="Seconds per segment for Cohen's kappa.",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0),
    default=TOLERANCE,
    show_default=True,
    help="Seconds between two marks that still match.",
)
@click.option("--out", type=click.Path(path_type=Path), help="Write the table here (CSV).")
def agreement_command(marks_file: Path, segment: float, tolerance: float, out: Path | None) -> None:
    """One row per recording: recording, client_marks, clinician_marks, matched, kappa,
    rating_r. MARKS.csv has one mark a row: recording, rater (client or clinician), start, end
    (seconds; end = start for a moment), kind (helpful, hindering, significant), rating (1-9)."""
    with marks_file.open(newline="", encoding="utf-8-sig") as source:
        try:
            marks = marks_from_rows(csv.DictReader(source), str(marks_file))
        except MarkError as exc:
            raise click.ClickException(str(exc)) from None
    rows = [as_row(a) for a in agreements(marks, segment=segment, tolerance=tolerance)]
    with out.open("w", newline="", encoding="utf-8") if out else nullcontext(sys.stdout) as target:
        writer = csv.DictWriter(target, fieldnames=OUTPUT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    if out:
        click.echo(f"{len(rows)} recordings written to {out}.", err=True)
