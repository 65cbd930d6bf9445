"""`ally etr`: fit a practice's expected treatment response from its own completed episodes."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import pandas as pd

from ally.cli.common import library, measures_dir_option
from ally.measures.schema import Direction

TEXT_COLUMNS = {c: "string" for c in ("client", "episode", "measure", "rater", "ending")}


def _read(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file as a data frame; identifiers read as text.

    A folder written by `ally analyze` gives its sessions with each episode's ending joined.
    """
    if path.is_dir():
        sessions = _read(_one_of(path, "sessions"))
        episodes = _read(_one_of(path, "episodes"))
        keys = ["client", "episode", "measure", "rater"]
        if "ending" not in episodes.columns:
            return sessions
        return sessions.merge(episodes[[*keys, "ending"]], on=keys, how="left")
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype=TEXT_COLUMNS, na_values=["", "NA"], keep_default_na=False)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise click.ClickException(f"{path}: cannot be read as CSV or Parquet ({first}).") from exc


def _one_of(folder: Path, name: str) -> Path:
    for suffix in (".parquet", ".csv"):
        if (folder / f"{name}{suffix}").exists():
            return folder / f"{name}{suffix}"
    raise click.ClickException(
        f"{folder}: no {name}.csv or {name}.parquet. Give the folder `ally analyze --out` wrote."
    )


def _quantiles(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(q) for q in text.split(",") if q.strip())
    except ValueError as exc:
        raise click.BadParameter(f"{text!r}: give numbers separated by commas") from exc


@click.group()
def etr() -> None:
    """Expected treatment response: fit a practice's expected course and tolerance band."""


@etr.command("fit")
@click.argument("data", type=click.Path(exists=True, path_type=Path))
@click.option("--measure", "measure_id", required=True, help="The outcome measure's id.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Model file (JSON).")
@click.option("--measure-version", help="Needed for a measure Ally has no definition of.")
@click.option("--lower-is-better", "direction", flag_value=Direction.LOWER_IS_BETTER.value)
@click.option("--higher-is-better", "direction", flag_value=Direction.HIGHER_IS_BETTER.value)
@click.option(
    "--quantiles",
    default="0.1,0.5,0.9",
    show_default=True,
    help="Quantiles to fit: the lowest and highest are the band, 0.5 the expected score.",
)
@click.option("--min-episodes", default=50, show_default=True, type=click.IntRange(1))
@click.option(
    "--min-sessions",
    default=3,
    show_default=True,
    type=click.IntRange(2),
    help="Sessions an episode needs to count towards --min-episodes.",
)
@click.option(
    "--min-at-session",
    default=10,
    show_default=True,
    type=click.IntRange(1),
    help="The model covers sessions up to the last with this many episodes.",
)
@click.option(
    "--alert-budget",
    type=click.FloatRange(0, 1),
    help="At most this share of training episodes ever flagged (e.g. 0.25).",
)
@click.option(
    "--budget-level",
    type=click.Choice(["red", "any"]),
    default="red",
    show_default=True,
    help="What the budget caps: red flags, or any flag (yellow or red).",
)
@click.option("--cutoff", type=float, help="Clinical cut-off for the budget (default: measure's).")
@click.option(
    "--reliable-change",
    type=click.FloatRange(0, min_open=True),
    help="Reliable change in points for the budget (default: the measure's).",
)
@measures_dir_option
def etr_fit(
    data: Path,
    measure_id: str,
    out: Path,
    measure_version: str | None,
    direction: str | None,
    quantiles: str,
    min_episodes: int,
    min_sessions: int,
    min_at_session: int,
    alert_budget: float | None,
    budget_level: str,
    cutoff: float | None,
    reliable_change: float | None,
    measures_dirs: tuple[Path, ...],
) -> None:
    """Fit the expected course of --measure on DATA (a folder `ally analyze` wrote, or a CSV or
    Parquet file with scores) and save it to --out."""
    from ally.change.reliable import reliable_change_value
    from ally.feedback.etr import TooLittleDataError, fit_etr, training_data, with_alert_budget
    from ally.feedback.signals import BudgetLevel

    measure = library(measures_dirs).measures.get(measure_id)
    if measure is not None:
        if measure_version is not None and measure_version != measure.version:
            raise click.UsageError(
                f"{measure_id} is version {measure.version} in the measure library, not "
                f"{measure_version}; leave out --measure-version or fix the measure file"
            )
        version, sign_direction = measure.version, Direction(direction or measure.direction)
        if sign_direction is not measure.direction:
            raise click.UsageError(
                f"{measure_id} is {measure.direction.value.replace('_', ' ')}; "
                "leave out --lower-is-better/--higher-is-better"
            )
    elif measure_version is None or direction is None:
        raise click.UsageError(
            f"Ally has no definition of {measure_id!r}: give --measure-version and "
            "--lower-is-better or --higher-is-better (or add a measure file with --measures-dir)"
        )
    else:
        version, sign_direction = measure_version, Direction(direction)

    frame = _read(data)
    if "measure" in frame.columns and not (frame["measure"].astype(str) == measure_id).any():
        found = ", ".join(sorted(frame["measure"].dropna().astype(str).unique())) or "none"
        raise click.ClickException(f"{data}: no scores of {measure_id}; measures found: {found}.")
    try:
        train = training_data(frame, measure_id)
        model = fit_etr(
            train,
            measure_id=measure_id,
            measure_version=version,
            direction=sign_direction,
            quantiles=_quantiles(quantiles),
            min_episodes=min_episodes,
            min_sessions=min_sessions,
            min_at_session=min_at_session,
        )
    except TooLittleDataError as exc:
        click.echo(f"{data}: {exc}", err=True)
        sys.exit(1)
    except ValueError as exc:
        raise click.ClickException(f"{data}: {exc}") from exc

    if alert_budget is not None:
        if cutoff is None and measure is not None:
            cutoff = measure.clinical_cutoff
        if reliable_change is None and measure is not None:
            if measure.reliable_change is not None:
                reliable_change = measure.reliable_change.value
            elif measure.reliability is not None:
                intakes = train.rows.groupby("episode")["intake"].first()
                reliable_change = reliable_change_value(
                    float(intakes.std()), measure.reliability.value
                )
        if reliable_change is None:
            raise click.UsageError(
                f"the alert budget needs {measure_id}'s reliable change value: give "
                "--reliable-change"
            )
        model = with_alert_budget(
            model,
            train,
            cap=alert_budget,
            level=BudgetLevel(budget_level),
            cutoff=cutoff,
            reliable_change=reliable_change,
        )

    out.write_text(model.to_json(), encoding="utf-8")
    s, r = model.summary, model.range
    click.echo(
        f"Fitted {measure_id} {version} on {s.episodes} episodes and {s.sessions} scores after "
        f"session 1 (intake {r.intake_min:g} to {r.intake_max:g}, sessions 2 to {r.max_session})."
    )
    left_out = [
        (s.not_completed, "not completed (ending not planned or dropout)"),
        (s.skipped_no_intake, "without a session-1 score"),
        (s.skipped_no_followup, "with no score after session 1"),
    ]
    if not s.completed_only:
        click.echo("No `ending` column: trained on all episodes, ongoing ones included.")
    for count, why in left_out:
        if count:
            click.echo(f"Left out {count} episodes {why}.")
    if s.beyond_range:
        click.echo(f"{s.beyond_range} scores after session {r.max_session} hold its values.")
    if model.band_method != "quantile regression":
        click.echo("The free quantile fits crossed, so the band is the median ± a fixed shift.")
    if model.budget is not None:
        b = model.budget
        click.echo(
            f"Alert budget {b.cap:.0%} ({b.level.value}): {b.share_flagged:.1%} of training "
            f"episodes flagged, {b.share_deteriorated:.1%} by reliable deterioration alone; "
            f"red beyond {b.thresholds.red_scale:.2f}, yellow beyond "
            f"{b.thresholds.yellow_scale:.2f} of the band."
        )
        if not b.attainable:
            click.echo("Note: reliable deterioration alone exceeds the budget.")
    click.echo(f"Wrote {out}")
