"""What the `ally` commands share: the measure library and its folders."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ally.measures.library import Library, MeasureFileError, load_library


def measures_dirs_of(given: tuple[Path, ...]) -> tuple[Path, ...]:
    env = os.environ.get("ALLY_MEASURES_DIR")
    extra = tuple(Path(p) for p in env.split(os.pathsep) if p) if env else ()
    return tuple(given) + extra


measures_dir_option = click.option(
    "--measures-dir",
    "measures_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A folder of your own measure files (also ALLY_MEASURES_DIR).",
)


def library(dirs: tuple[Path, ...]) -> Library:
    try:
        return load_library(measures_dirs_of(dirs))
    except MeasureFileError as exc:
        raise click.ClickException(str(exc)) from exc


rupture_rule_option = click.option(
    "--rupture-rule",
    type=click.Choice(["strauss", "openfit"]),
    default="strauss",
    show_default=True,
    help="strauss: a 15% drop; openfit: SRS below 36 or any drop of a point (docs/alliance.md).",
)
