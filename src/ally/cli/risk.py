"""`ally risk fit`: now part of `ally fit`, kept as an alias for scripts that call it."""

from __future__ import annotations

from pathlib import Path

import click

from ally.cli.etr import ALIAS, fit_alias


@click.group()
def risk() -> None:
    """Dropout risk: now fitted by `ally fit`."""


@risk.command("fit", context_settings=ALIAS)
@click.argument("data", type=click.Path(exists=True, path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Model file (JSON).")
@click.pass_context
def risk_fit(ctx: click.Context, data: Path, out: Path) -> None:
    """Alias of `ally fit DATA --out OUT`."""
    fit_alias(ctx, data, out, "the dropout model (`ally risk fit`)")
