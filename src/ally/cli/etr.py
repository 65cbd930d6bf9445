"""`ally etr fit`: now part of `ally fit`, kept as an alias for scripts that call it."""

from __future__ import annotations

from pathlib import Path

import click

ALIAS = dict(ignore_unknown_options=True, allow_extra_args=True)


def fit_alias(ctx: click.Context, data: Path, out: Path, what: str) -> None:
    """Run `ally fit DATA --out OUT`, saying what replaced the old command."""
    from ally.cli.main import fit_command

    click.echo(
        f"Note: {what} is now part of `ally fit`, which fits it with the rest of the practice "
        f"model; {out} holds the whole model (use it with `ally analyze --model`). Options "
        "other than --out are ignored.",
        err=True,
    )
    ctx.invoke(fit_command, input_file=data, out=out)


@click.group()
def etr() -> None:
    """Expected treatment response: now fitted by `ally fit`."""


@etr.command("fit", context_settings=ALIAS)
@click.argument("data", type=click.Path(exists=True, path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Model file (JSON).")
@click.pass_context
def etr_fit(ctx: click.Context, data: Path, out: Path) -> None:
    """Alias of `ally fit DATA --out OUT`."""
    fit_alias(ctx, data, out, "the expected course (`ally etr fit`)")
