"""`ally backtest`: fit on earlier episodes, test on later ones, report (docs/validation.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ally.cli.common import measures_dir_option, measures_dirs_of, rupture_rule_option
from ally.feedback.signals import MAX_OTHERS_FLAGGED


def _summary(report: dict[str, Any]) -> str:
    """A few lines for the terminal: sizes and each goal, met or not."""
    d = report["data"]
    lines = [
        f"Trained on {d['episodes']['train']} episodes, tested on {d['episodes']['test']} "
        f"(ordered by {d['ordered_by']}).",
    ]
    lines += [f"Note: {n}" for n in report["notes"]]
    for g in report["goals"]:
        met = {True: "met", False: "MISSED", None: "not measurable"}[g["met"]]
        figures = ", ".join(
            f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in g["measured"].items()
        )
        lines.append(f"{met:>14}  {g['goal']}: {figures}")
    if not report["goals"]:
        lines.append("No goal could be measured on these data.")
    return "\n".join(lines)


@click.command()
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output folder.")
@click.option(
    "--truth",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder with truth_sessions and truth_episodes (default: DATA's folder if it has them).",
)
@click.option(
    "--split",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.5,
    show_default=True,
    help="Share of episodes, earliest first, that trains the models.",
)
@rupture_rule_option
@click.option(
    "--folds",
    type=click.IntRange(2),
    default=5,
    show_default=True,
    help="Cross-validation folds of the dropout model (ally fit fits it with 5).",
)
@click.option(
    "--signal-false-alarms",
    type=click.FloatRange(0, 1),
    default=MAX_OTHERS_FLAGGED,
    show_default=True,
    help="The share of training episodes not ending reliably worse that each measure's chosen "
    "signal rule may flag by session 3 (as ally fit).",
)
@click.option("--threads", type=click.IntRange(1), help="Threads for the engine (default: all).")
@measures_dir_option
def backtest(
    data: Path,
    out: Path,
    truth: Path | None,
    split: float,
    rupture_rule: str,
    folds: int,
    signal_false_alarms: float,
    threads: int | None,
    measures_dirs: tuple[Path, ...],
) -> None:
    """Fit on the earliest episodes of DATA, test on the later ones, and write backtest.md and
    backtest.json to --out.

    DATA is a long CSV or Parquet file as `ally analyze` reads it, with an `ending` column.
    """
    from ally.engine.backtest import BacktestError, BacktestOptions, truth_folder
    from ally.engine.backtest import backtest as run
    from ally.measures.library import MeasureFileError

    if not data.exists():
        raise click.ClickException(f"{data}: no such file. Check the path.")
    if data.is_dir():
        raise click.ClickException(f"{data}: is a folder; give the CSV or Parquet file inside it.")
    options = BacktestOptions(
        data=data,
        out=out,
        truth=truth if truth is not None else truth_folder(data),
        split=split,
        rupture_rule=rupture_rule,
        measures_dirs=measures_dirs_of(measures_dirs),
        threads=threads,
        folds=folds,
        signal_false_alarms=signal_false_alarms,
    )
    try:
        report = run(options)
    except (BacktestError, MeasureFileError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(_summary(report))
    click.echo(f"Wrote {out / 'backtest.md'} and {out / 'backtest.json'}")
