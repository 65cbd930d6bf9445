"""`ally risk`: fit a practice's dropout model from the output of `ally analyze`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, cast

import click

# Read as text so that the two tables' identifiers join whatever they look like.
TEXT_COLUMNS = {"client": "VARCHAR", "episode": "VARCHAR"}


def _table(backend: Any, folder: Path, name: str) -> Any:
    """The `name` table that `ally analyze` wrote to `folder`, Parquet or CSV."""
    parquet, csv = folder / f"{name}.parquet", folder / f"{name}.csv"
    if parquet.exists():
        return backend.read_parquet(parquet, table_name=name)
    if csv.exists():
        return backend.read_csv(csv, table_name=name, types=TEXT_COLUMNS, nullstr=["", "NA"])
    raise click.ClickException(
        f"{folder}: no {name}.csv or {name}.parquet. Give the folder `ally analyze --out` wrote."
    )


@click.group()
def risk() -> None:
    """Dropout risk: fit a practice's model on its completed episodes."""


@risk.command("fit")
@click.argument("data", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Model file (JSON).")
@click.option("--min-episodes", default=100, show_default=True, type=click.IntRange(1))
@click.option("--min-dropouts", default=20, show_default=True, type=click.IntRange(1))
@click.option("--folds", default=5, show_default=True, type=click.IntRange(2))
@click.option(
    "--calibration",
    type=click.Choice(["auto", "isotonic", "sigmoid"]),
    default="auto",
    show_default=True,
    help="auto: isotonic from 1000 completed episodes, sigmoid below.",
)
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1))
@click.option(
    "--measures-dir",
    "measures_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A folder of your own measure files (also ALLY_MEASURES_DIR).",
)
def risk_fit(
    data: Path,
    out: Path,
    min_episodes: int,
    min_dropouts: int,
    folds: int,
    calibration: str,
    threads: int,
    measures_dirs: tuple[Path, ...],
) -> None:
    """Fit a dropout model on DATA, the folder that `ally analyze` wrote; save it to --out."""
    from ally.cli.common import library
    from ally.engine.read import connect
    from ally.feedback.dropout import Calibration, DropoutModel, TooFewEpisodesError
    from ally.feedback.dropout_features import (
        available_features,
        measure_facts,
        session_features,
        training_rows,
    )

    facts = measure_facts(library(measures_dirs))
    backend = connect(threads)
    sessions = _table(backend, data, "sessions")
    episodes = _table(backend, data, "episodes")
    if "ending" not in episodes.columns:
        raise click.ClickException(
            f"{data}: the episodes table has no `ending` column. Add an `ending` column "
            "(planned, dropout or ongoing) to the input and run `ally analyze` again."
        )
    features = available_features(sessions.columns)
    table = session_features(sessions, facts.kinds, signs=facts.signs, ranges=facts.ranges)
    rows = training_rows(table, episodes).execute()
    model = DropoutModel(
        features,
        min_episodes=min_episodes,
        min_dropouts=min_dropouts,
        folds=folds,
        calibration=cast(Calibration, calibration),
        threads=threads,
    )
    episode_ids = rows["client"].astype(str) + "\x1f" + rows["episode"].astype(str)
    try:
        model.fit(rows[list(features)], rows["dropout"], episode_ids)
    except TooFewEpisodesError as exc:
        click.echo(f"{data}: {exc}", err=True)
        sys.exit(1)
    out.write_text(model.to_json(), encoding="utf-8")
    s = model.summary_
    assert s is not None
    click.echo(
        f"Fitted on {s.episodes} completed episodes ({s.dropouts} dropouts, "
        f"{s.dropout_rate:.1%}) and {s.sessions} sessions."
    )
    click.echo(f"Held out by episode ({s.folds} folds)   AUC    Brier")
    click.echo(f"  logistic regression (baseline)  {s.logistic_auc:.3f}  {s.logistic_brier:.4f}")
    boosted = f"gradient boosting, {s.calibration}"
    click.echo(f"  {boosted:<31} {s.boosted_auc:.3f}  {s.boosted_brier:.4f}")
    click.echo(f"Using {s.chosen} (the lower Brier score).")
    for note in model.notes_:
        click.echo(f"Note: {note}.")
    click.echo(f"Wrote {out}")
