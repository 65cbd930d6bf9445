"""`ally groups agreement`: ICC(1), ICC(2), rwg(j) and AD_M of a file of group members."""

from __future__ import annotations

import math
from pathlib import Path

import click

from ally.engine.errors import AnalysisError


@click.group()
def groups() -> None:
    """Group therapy: how much of a score belongs to the group, and how members agree."""


@groups.command("agreement")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--group", "group", required=True, help="The column naming each member's group.")
@click.option("--value", help="The column of the score (one per member).")
@click.option("--items", help="The item columns, comma-separated: rwg(j) and AD_M per group.")
@click.option(
    "--options", type=click.IntRange(min=2), help="How many answer options each item has (A)."
)
@click.option(
    "--out", type=click.Path(path_type=Path), help="With --items: CSV of group, n, rwg_j, ad_m."
)
def agreement(
    file: Path,
    group: str,
    value: str | None,
    items: str | None,
    options: int | None,
    out: Path | None,
) -> None:
    """ICC(1) and ICC(2) from a one-way ANOVA, as R's multilevel package computes them, of
    --value or of the mean of --items; with --items, rwg(j) and AD_M per group against a
    uniform null with --options answer options (docs/groups.md)."""
    from ally.engine.agreement import agreement_of_file, write_agreement

    columns = tuple(c.strip() for c in items.split(",") if c.strip()) if items else ()
    if out is not None and not columns:
        raise click.UsageError("--out writes rwg(j) and AD_M per group; give --items too.")
    try:
        report = agreement_of_file(file, group, value=value, items=columns, options=options)
    except AnalysisError as exc:
        raise click.ClickException(str(exc)) from exc
    icc = report.icc
    click.echo(f"Score: {report.score}")
    click.echo(
        f"{icc.members} members in {icc.groups} groups (mean group size {icc.mean_group_size:.2f})"
        + (f"; {report.left_out} rows left out (no group or no value)" if report.left_out else "")
    )
    click.echo(f"MSB {icc.between:.6g}, MSW {icc.within:.6g}")
    click.echo(f"ICC(1) {_icc(icc.icc1)}  (share of a member's score that belongs to the group)")
    click.echo(f"ICC(2) {_icc(icc.icc2)}  (reliability of the group means)")
    if math.isnan(icc.icc1) or math.isnan(icc.icc2):
        click.echo(
            "Every score is the same, within and between groups: the ICCs are 0 / 0."
            if icc.between == 0 and icc.within == 0
            else "The group means do not differ (MSB 0), and ICC(2) divides by MSB."
        )
    if report.groups:
        rwg = [g.rwg_j for g in report.groups if not math.isnan(g.rwg_j)]
        ad = [g.ad_m for g in report.groups if not math.isnan(g.ad_m)]
        if rwg:
            click.echo(
                f"rwg(j): mean {sum(rwg) / len(rwg):.4f} over {len(rwg)} groups; "
                f"AD_M: mean {sum(ad) / len(ad):.4f} (A/6 = {(options or 0) / 6:.3f})"
            )
    if out is not None:
        write_agreement(report, out)
        click.echo(f"Wrote {out}")


def _icc(value: float) -> str:
    return "cannot be estimated" if math.isnan(value) else f"{value:.4f}"
