"""`ally simulate`: a synthetic practice with ground truth (see docs/simulation.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click


def _iso_date(_: click.Context, __: click.Parameter, value: str) -> str:
    try:
        dt.date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date like 2024-01-01") from exc
    return value


@click.command()
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output folder.")
@click.option("--episodes", type=click.IntRange(1), default=300, show_default=True)
@click.option(
    "--clinicians", type=click.IntRange(1), help="Clinicians (default: one per 30 episodes)."
)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv")
@click.option(
    "--start-date",
    default="2024-01-01",
    show_default=True,
    callback=_iso_date,
    help="First day an episode can start.",
)
@click.option(
    "--ongoing-share",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.10,
    show_default=True,
    help="Share of episodes still running at the data cut-off.",
)
@click.option(
    "--group-check-in",
    "group_checkin",
    is_flag=True,
    help="Group members answer the group check-in (ally-group) after each session, with a "
    "known group effect per level (docs/groups.md).",
)
@click.option("--quiet", is_flag=True, help="Do not print the calibration summary.")
def simulate(
    out: Path,
    episodes: int,
    clinicians: int | None,
    seed: int,
    fmt: str,
    start_date: str,
    ongoing_share: float,
    group_checkin: bool,
    quiet: bool,
) -> None:
    """Simulate a practice: sessions in the `ally analyze` format plus the ground truth.

    Writes sessions, truth_sessions and truth_episodes (CSV or Parquet), config.json and
    calibration.json to OUT, and prints how the practice compares with published figures.
    """
    from ally.simulate import SimulationConfig, report
    from ally.simulate import simulate as run

    config = SimulationConfig(
        episodes=episodes,
        clinicians=clinicians,
        seed=seed,
        start_date=start_date,
        ongoing_share=ongoing_share,
        group_checkin=group_checkin,
    )
    summary = run(config, out, "parquet" if fmt == "parquet" else "csv")
    if not quiet:
        click.echo(report(summary))
    click.echo(
        f"wrote {summary['administrations']:,} administrations of {episodes:,} episodes to {out}"
    )
