"""The `ally` command: the front door to measures and the batch engine."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ally.cli.common import library, measures_dir_option, measures_dirs_of, rupture_rule_option
from ally.measures.library import MeasureFileError, load_measure_file
from ally.measures.schema import Direction, Measure


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ally")
def cli() -> None:
    """Ally: session-by-session measures of the alliance and of outcome."""


@cli.group()
def measures() -> None:
    """The measures Ally knows: list, show and validate definition files."""


@measures.command("list")
@measures_dir_option
def measures_list(measures_dirs: tuple[Path, ...]) -> None:
    """One measure per line: id, version, kind, items, whether its text ships, name."""
    for m in library(measures_dirs):
        text = "text" if m.has_text else "scoring only"
        click.echo(f"{m.id}\t{m.version}\t{m.kind.value}\t{len(m.items)} items\t{text}\t{m.name}")


def _describe(m: Measure) -> str:
    from ally.scoring.rules import score_range

    low, high = score_range(m)
    lines = [
        f"{m.name} ({m.id}, version {m.version})",
        f"  kind: {m.kind.value}; {m.direction.value.replace('_', ' ')}",
        f"  citation: {m.citation}",
        f"  licence: {m.licence.name}"
        + (
            "" if m.licence.text_may_ship else " (item text not shipped; supply your licensed copy)"
        ),
        f"  items: {len(m.items)}; score {m.scoring.method} from {low:g} to {high:g}",
        f"  missing answers: at least {m.scoring.min_answered} needed"
        + ("; sums prorated" if m.scoring.prorate and m.scoring.method == "sum" else ""),
    ]
    reverse = [i.number for i in m.items if i.reverse]
    if reverse:
        lines.append(f"  reverse-keyed items: {', '.join(map(str, reverse))}")
    for sub in m.scoring.subscales:
        name = sub.name.get("en", sub.id)
        lines.append(f"  subscale {sub.id} ({name}): items {', '.join(map(str, sub.items))}")
    for band in m.bands:
        lines.append(f"  band {band.min:g}-{band.max:g}: {band.label}")
    if m.clinical_cutoff is not None:
        lines.append(f"  clinical cut-off: {m.clinical_cutoff:g} ({m.clinical_cutoff_source})")
    if m.reliability:
        lines.append(f"  reliability: {m.reliability.value} ({m.reliability.source})")
    if m.reliable_change:
        rc = m.reliable_change
        lines.append(f"  published reliable change: {rc.value:g} ({rc.source})")
    for crit in m.critical_items:
        lines.append(
            f"  critical: item {crit.item} at {crit.min_value:g} or more raises {crit.raises}"
        )
    if not m.validated:
        lines.append("  NOT externally validated")
    if m.has_text:
        lines.append("")
        for item in m.items:
            lines.append(f"  {item.number}. {item.text.get('en', next(iter(item.text.values())))}")
    return "\n".join(lines)


@measures.command("show")
@click.argument("measure_id")
@measures_dir_option
def measures_show(measure_id: str, measures_dirs: tuple[Path, ...]) -> None:
    """Everything Ally knows about one measure."""
    known = library(measures_dirs)
    try:
        measure = known.get(measure_id)
    except KeyError as exc:
        raise click.ClickException(exc.args[0]) from exc
    click.echo(_describe(measure))


@measures.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def measures_validate(files: tuple[Path, ...]) -> None:
    """Check measure definition files; exit 1 if any is invalid."""
    failed = False
    for path in files:
        try:
            m = load_measure_file(path)
        except MeasureFileError as exc:
            failed = True
            click.echo(str(exc), err=True)
            continue
        click.echo(f"{path}: valid ({m.id} {m.version}, {len(m.items)} items)")
    if failed:
        sys.exit(1)


@cli.command()
@click.argument("input_file", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output folder.")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv")
@click.option("--client-column", default="client", show_default=True)
@click.option("--episode-column", default="episode", show_default=True)
@click.option("--session-column", default="session", show_default=True)
@click.option("--measures", "wide", help="Wide input: these columns are totals of these measures.")
@click.option("--reliability", type=click.FloatRange(0, 1, min_open=True, max_open=True))
@click.option(
    "--reliability-post",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="Reliability at post, for --rci-method nk (default: --reliability).",
)
@click.option("--lower-is-better", "direction", flag_value=Direction.LOWER_IS_BETTER.value)
@click.option("--higher-is-better", "direction", flag_value=Direction.HIGHER_IS_BETTER.value)
@click.option("--functional-mean", type=float, help="Mean of the functional population.")
@click.option("--functional-sd", type=click.FloatRange(0, min_open=True))
@click.option("--cutoff", type=float, help="Clinical cut-off; overrides the measure's own.")
@click.option(
    "--rci-method",
    type=click.Choice(["jt", "gln", "hll", "en", "nk", "ha"]),
    default="jt",
    show_default=True,
)
@click.option("--pre", type=click.IntRange(1), help="Session taken as pre (default: the first).")
@click.option("--post", type=click.IntRange(1), help="Session taken as post (default: the last).")
@click.option(
    "--etr",
    "etr_models",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A fitted expected-response model (ally etr fit), one per outcome measure.",
)
@click.option(
    "--dropout-model",
    type=click.Path(path_type=Path),
    help="A fitted dropout model (ally risk fit) for dropout_risk.",
)
@rupture_rule_option
@click.option(
    "--feedback/--no-feedback",
    default=True,
    show_default=True,
    help="Signals, ruptures and dropout risk; without them only scores and change statistics.",
)
@click.option("--strict", is_flag=True, help="Stop if any row is rejected.")
@click.option("--threads", type=click.IntRange(1), help="Threads for the engine (default: all).")
@click.option(
    "--memory-limit",
    default="1500MB",
    show_default=True,
    help="Memory for the engine's tables; beyond it they spill to a temporary folder.",
)
@click.option(
    "--progress/--no-progress", default=None, help="Progress bar (default: on a terminal)."
)
@measures_dir_option
def analyze(
    input_file: Path,
    out: Path,
    fmt: str,
    client_column: str,
    episode_column: str,
    session_column: str,
    wide: str | None,
    reliability: float | None,
    reliability_post: float | None,
    direction: str | None,
    functional_mean: float | None,
    functional_sd: float | None,
    cutoff: float | None,
    rci_method: str,
    pre: int | None,
    post: int | None,
    etr_models: tuple[Path, ...],
    dropout_model: Path | None,
    rupture_rule: str,
    feedback: bool,
    strict: bool,
    threads: int | None,
    memory_limit: str,
    progress: bool | None,
    measures_dirs: tuple[Path, ...],
) -> None:
    """Score every administration in INPUT and classify change; write sessions and episodes."""
    from ally.change.reliable import Method
    from ally.engine.analyze import analyze as run
    from ally.engine.errors import AnalysisError
    from ally.engine.options import Options
    from ally.feedback.alliance import RUPTURE_RULES

    if (functional_mean is None) != (functional_sd is None):
        raise click.UsageError("give --functional-mean and --functional-sd together")
    if pre is not None and post is not None and post <= pre:
        raise click.UsageError("--post must be a later session than --pre")
    options = Options(
        input=input_file,
        out=out,
        format="parquet" if fmt == "parquet" else "csv",
        client_column=client_column,
        episode_column=episode_column,
        session_column=session_column,
        wide_measures=tuple(m.strip() for m in wide.split(",") if m.strip()) if wide else (),
        reliability=reliability,
        reliability_post=reliability_post,
        direction=Direction(direction) if direction else None,
        functional_mean=functional_mean,
        functional_sd=functional_sd,
        cutoff=cutoff,
        rci_method=Method(rci_method),
        pre=pre,
        post=post,
        strict=strict,
        etr_models=etr_models,
        dropout_model=dropout_model,
        feedback=feedback,
        rupture_config=RUPTURE_RULES[rupture_rule],
        measures_dirs=measures_dirs_of(measures_dirs),
        threads=threads,
        memory_limit=memory_limit,
        progress=progress,
    )
    try:
        summary = run(options)
    except (AnalysisError, MeasureFileError) as exc:
        raise click.ClickException(str(exc)) from exc
    from ally.cli.report import summary_text

    click.echo(summary_text(summary))


def _register() -> None:
    from ally.cli.backtest import backtest
    from ally.cli.backup import backup, restore
    from ally.cli.etr import etr
    from ally.cli.risk import risk
    from ally.cli.serve import manage, serve
    from ally.cli.simulate import simulate

    cli.add_command(simulate)
    cli.add_command(etr)
    cli.add_command(risk)
    cli.add_command(backtest)
    cli.add_command(serve)
    cli.add_command(manage)
    cli.add_command(backup)
    cli.add_command(restore)


_register()


def main() -> None:
    cli(prog_name="ally")
