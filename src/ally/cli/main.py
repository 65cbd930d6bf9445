"""The `ally` command: the front door to measures and the batch engine."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ally.cli.common import library, measures_dir_option, measures_dirs_of, rupture_rule_option
from ally.engine.options import ENCODINGS
from ally.feedback.fit import MIN_EPISODES
from ally.feedback.signals import MAX_OTHERS_FLAGGED
from ally.measures.library import MeasureFileError, load_measure_file
from ally.measures.schema import Direction, Measure

if TYPE_CHECKING:
    from ally.engine.options import Options


class LazyGroup(click.Group):
    """A group whose commands in other modules are imported when they run or are listed, so that
    `ally analyze` does not load the web app, SciPy's optimisers and the rest at start-up (the
    pattern of click's documentation, "Lazily Loading Subcommands")."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.lazy:
            return super().get_command(ctx, cmd_name)
        module, name = self.lazy[cmd_name].rsplit(".", 1)
        command = getattr(importlib.import_module(module), name)
        assert isinstance(command, click.Command)
        return command


# Command name: "module.object" of the commands defined outside this module.
COMMANDS = {
    "simulate": "ally.cli.simulate.simulate",
    "etr": "ally.cli.etr.etr",
    "risk": "ally.cli.risk.risk",
    "backtest": "ally.cli.backtest.backtest",
    "serve": "ally.cli.serve.serve",
    "manage": "ally.cli.serve.manage",
    "backup": "ally.cli.backup.backup",
    "restore": "ally.cli.backup.restore",
    "research": "ally.cli.research.research",
    "export": "ally.cli.export.export",
    "ipr": "ally.cli.ipr.ipr",
    "groups": "ally.cli.groups.groups",
}


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
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


def _input_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options `ally analyze` and `ally fit` share: how to read the input and what is known
    of its measures beyond their files."""
    decorators = [
        click.option("--client-column", default="client", show_default=True),
        click.option("--episode-column", default="episode", show_default=True),
        click.option("--session-column", default="session", show_default=True),
        click.option("--date-column", default="date", show_default=True),
        click.option("--measure-column", default="measure", show_default=True),
        click.option("--score-column", default="score", show_default=True),
        click.option(
            "--delimiter",
            default=",",
            show_default=True,
            help='The CSV field delimiter: one character, or tab. Quotes are always ".',
        ),
        click.option(
            "--decimal",
            type=click.Choice([".", ","]),
            default=".",
            show_default=True,
            help="The decimal separator of scores and answers.",
        ),
        click.option(
            "--date-format",
            help="How dates are written, as strptime codes, e.g. %d.%m.%Y "
            "(default: ISO 8601, YYYY-MM-DD).",
        ),
        click.option(
            "--encoding",
            type=click.Choice(ENCODINGS, case_sensitive=False),
            default="utf-8",
            show_default=True,
            help="The CSV file's text encoding.",
        ),
        click.option(
            "--measures", "wide", help="Wide input: these columns are totals of these measures."
        ),
        click.option("--reliability", type=click.FloatRange(0, 1, min_open=True, max_open=True)),
        click.option(
            "--reliability-post",
            type=click.FloatRange(0, 1, min_open=True, max_open=True),
            help="Reliability at post, for --rci-method nk (default: --reliability).",
        ),
        click.option("--lower-is-better", "direction", flag_value=Direction.LOWER_IS_BETTER.value),
        click.option(
            "--higher-is-better", "direction", flag_value=Direction.HIGHER_IS_BETTER.value
        ),
        click.option("--functional-mean", type=float, help="Mean of the functional population."),
        click.option("--functional-sd", type=click.FloatRange(0, min_open=True)),
        click.option("--cutoff", type=float, help="Clinical cut-off; overrides the measure's own."),
        click.option(
            "--rci-method",
            type=click.Choice(["jt", "gln", "hll", "en", "nk", "ha"]),
            default="jt",
            show_default=True,
        ),
        click.option(
            "--pre", type=click.IntRange(1), help="Session taken as pre (default: the first)."
        ),
        click.option(
            "--post", type=click.IntRange(1), help="Session taken as post (default: the last)."
        ),
        click.option(
            "--min-episodes",
            type=click.IntRange(3),
            default=MIN_EPISODES,
            show_default=True,
            help="Episodes with a first and a last score a measure needs before its reliable "
            "change is estimated from the data rather than taken from its published value.",
        ),
        rupture_rule_option,
        click.option(
            "--sudden-gain-cutoff",
            metavar="MEASURE=POINTS",
            multiple=True,
            help="Criterion 1 of sudden gains and losses for a measure: a change of at least "
            "POINTS between sessions (e.g. phq9=7; repeat for other measures). Default: the "
            "measure's reliable change.",
        ),
        click.option(
            "--sudden-gain-z",
            type=click.FloatRange(0, min_open=True),
            help="z of criterion 1 where it is the reliable change value z·SD·√(2(1 − r)) "
            "(default 1.96, qnorm(.975)); a published reliable change in points stays as it is.",
        ),
        click.option(
            "--subscale-rupture-z",
            metavar="Z|off",
            help="An alliance subscale also ruptures when it falls by more than z·SD·√(2(1 − α)) "
            "(default z 2.576, qnorm(.995)); off: only the total ruptures.",
        ),
        click.option("--strict", is_flag=True, help="Stop if any row is rejected."),
        click.option(
            "--engine",
            type=click.Choice(["duckdb", "spark"]),
            default="duckdb",
            show_default=True,
            help="duckdb: an embedded DuckDB in this process, for one machine. spark: the same "
            "analysis, identical results, on Spark (needs the spark extra and Java 17); INPUT "
            "and --out may then be any path Spark reads (hdfs://, s3a://...), and each output "
            "is a folder of part files.",
        ),
        click.option(
            "--spark-master",
            metavar="URL",
            help="With --engine spark: the cluster's master (local[4], spark://HOST:7077, "
            "yarn, k8s://...). Default: what spark-submit gives, else local Spark on all cores.",
        ),
        click.option(
            "--spark-conf",
            metavar="KEY=VALUE",
            multiple=True,
            help="With --engine spark: a Spark setting for the session Ally starts, as "
            "spark-submit's --conf; repeat for more (e.g. --spark-conf spark.driver.memory=16g: "
            "the practice model is fitted on the driver from the scored rows' numbers, and Ally "
            "gives it half the machine's memory unless set).",
        ),
        click.option(
            "--threads",
            type=click.IntRange(1),
            help="Threads for the engine, the expected course's cross-validation and (up to 2) "
            "applying the model (default: all cores; the dropout model's trees: 1).",
        ),
        click.option(
            "--memory-limit",
            default="1500MB",
            show_default=True,
            help="Memory for DuckDB's tables; beyond it they spill to a temporary folder.",
        ),
        click.option(
            "--progress/--no-progress", default=None, help="Progress bar (default: on a terminal)."
        ),
        measures_dir_option,
    ]
    for decorate in reversed(decorators):
        command = decorate(command)
    return command


def _delimiter(given: str) -> str:
    """One character; `tab` or `\\t` for a tab."""
    delimiter = "\t" if given.lower() in ("tab", "\\t") else given
    if len(delimiter) != 1 or delimiter in '"\r\n':
        raise click.UsageError(
            f"--delimiter {given!r}: give one character other than a quote, e.g. ';' or tab"
        )
    return delimiter


def _cutoffs(given: tuple[str, ...]) -> dict[str, float]:
    """`--sudden-gain-cutoff phq9=7 ...` as {measure: points}."""
    import math

    found: dict[str, float] = {}
    for text in given:
        measure, _, points = text.rpartition("=")
        try:
            value = float(points)
        except ValueError:
            value = math.nan
        if not measure.strip() or not math.isfinite(value) or value <= 0:
            raise click.UsageError(
                f"--sudden-gain-cutoff {text!r}: give MEASURE=POINTS with a number of points "
                "above 0, e.g. phq9=7"
            )
        if measure.strip() in found:
            raise click.UsageError(
                f"--sudden-gain-cutoff gives {measure.strip()} twice; give each measure once"
            )
        found[measure.strip()] = value
    return found


def _subscale_z(given: str | None) -> float | None:
    """`--subscale-rupture-z`: a z above 0, or off."""
    from ally.feedback.fit import SUBSCALE_RUPTURE_Z

    if given is None:
        return SUBSCALE_RUPTURE_Z
    if given.strip().lower() == "off":
        return None
    try:
        z = float(given)
    except ValueError:
        z = float("nan")
    if not 0 < z < float("inf"):
        raise click.UsageError(
            f"--subscale-rupture-z {given!r}: give a z above 0 (e.g. 2.576) or off"
        )
    return z


def _spark_setting(given: str) -> tuple[str, str]:
    key, equals, value = given.partition("=")
    if not equals or not key.strip() or not value.strip():
        raise click.UsageError(
            f"--spark-conf {given!r}: give KEY=VALUE, e.g. --spark-conf spark.driver.memory=8g"
        )
    return key.strip(), value.strip()


def _options(input_file: str, out: str, **given: Any) -> Options:
    """The engine's options from the command line's."""
    from ally.change.reliable import Z_975, Method
    from ally.engine.options import Options
    from ally.feedback.alliance import RUPTURE_RULES

    if (given["functional_mean"] is None) != (given["functional_sd"] is None):
        raise click.UsageError("give --functional-mean and --functional-sd together")
    pre, post = given["pre"], given["post"]
    if pre is not None and post is not None and post <= pre:
        raise click.UsageError("--post must be a later session than --pre")
    if given["spark_master"] is not None and given["engine"] != "spark":
        raise click.UsageError("--spark-master is for --engine spark; give both, or neither")
    if given["spark_conf"] and given["engine"] != "spark":
        raise click.UsageError("--spark-conf is for --engine spark; give both, or neither")
    given["spark_conf"] = tuple(_spark_setting(s) for s in given["spark_conf"])
    wide = given.pop("wide")
    direction = given.pop("direction")
    z = given.pop("sudden_gain_z")
    return Options(
        input=Path(input_file),
        out=Path(out),
        input_location=input_file,
        out_location=out,
        delimiter=_delimiter(given.pop("delimiter")),
        encoding=given.pop("encoding").lower(),
        wide_measures=tuple(m.strip() for m in wide.split(",") if m.strip()) if wide else (),
        direction=Direction(direction) if direction else None,
        rci_method=Method(given.pop("rci_method")),
        rupture_config=RUPTURE_RULES[given.pop("rupture_rule")],
        sudden_gain_cutoffs=_cutoffs(given.pop("sudden_gain_cutoff")),
        sudden_gain_z=Z_975 if z is None else z,
        subscale_rupture_z=_subscale_z(given.pop("subscale_rupture_z")),
        measures_dirs=measures_dirs_of(given.pop("measures_dirs")),
        **given,
    )


FIT_OPTIONS = {
    "reliability": None,
    "reliability_post": None,
    "functional_mean": None,
    "functional_sd": None,
    "cutoff": None,
    "rci_method": "jt",
    "pre": None,
    "post": None,
    "min_episodes": MIN_EPISODES,
    "rupture_rule": "strauss",
    "sudden_gain_cutoff": (),
    "sudden_gain_z": None,
    "subscale_rupture_z": None,
}
"""Options that shape the practice model: they take effect when it is fitted, not applied."""


def _refuse_fit_options(given: dict[str, Any]) -> None:
    changed = [name for name, default in FIT_OPTIONS.items() if given.get(name) != default]
    if changed:
        named = ", ".join("--" + name.replace("_", "-") for name in changed)
        raise click.UsageError(
            f"{named} shape the practice model, so they take effect when it is fitted: give "
            "them to `ally fit` and apply its model with --model, or leave out --model."
        )


@cli.command()
@click.argument("input_file", metavar="INPUT", type=click.Path())
@click.option("--out", required=True, type=click.Path(), help="Output folder.")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv")
@click.option(
    "--model",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A practice model (ally fit) to apply; nothing is then estimated from INPUT.",
)
@click.option(
    "--feedback/--no-feedback",
    default=True,
    show_default=True,
    help="Signals, ruptures and dropout risk; without them only scores and change statistics.",
)
@click.option(
    "--goal-threshold",
    type=click.FloatRange(min=0, min_open=True),
    default=3.0,
    show_default=True,
    help="Points of change on one goal (rated 0-10) that count as reliable progress.",
)
@_input_options
def analyze(
    input_file: str,
    out: str,
    fmt: str,
    model: Path | None,
    feedback: bool,
    goal_threshold: float,
    **given: Any,
) -> None:
    """Score every administration in INPUT and classify change; write sessions and episodes.

    Without --model, the practice model is fitted on INPUT first, exactly as `ally fit` would.

    Engines: duckdb (the default) runs in this process. spark runs the same stages, with the
    same results, on Spark: `--engine spark --spark-master local[4]` on this machine, or under
    spark-submit on a cluster, reading and writing hdfs:// or s3a:// paths.
    """
    from ally.engine.analyze import analyze as run
    from ally.engine.errors import AnalysisError

    if model is not None:
        _refuse_fit_options(given)
    options = replace(
        _options(input_file, out, **given),
        format="parquet" if fmt == "parquet" else "csv",
        model=model,
        feedback=feedback,
        goal_threshold=goal_threshold,
    )
    try:
        summary = run(options)
    except (AnalysisError, MeasureFileError) as exc:
        raise click.ClickException(str(exc)) from exc
    from ally.cli.report import summary_text

    click.echo(summary_text(summary))


@cli.command("fit")
@click.argument("input_file", metavar="DATA", type=click.Path())
@click.option(
    "--out", required=True, type=click.Path(path_type=Path, dir_okay=False), help="Model file."
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
@click.option(
    "--signal-false-alarms",
    type=click.FloatRange(0, 1),
    default=MAX_OTHERS_FLAGGED,
    show_default=True,
    help="Choose each outcome measure's signal rule on DATA: the most sensitive by session 3 "
    "that flags at most this share of the episodes that did not end reliably worse.",
)
@click.option(
    "--signal-tuning/--no-signal-tuning",
    default=True,
    show_default=True,
    help="Without tuning: the fitted course, yellow at half the band, white first.",
)
@_input_options
def fit_command(
    input_file: str,
    out: Path,
    alert_budget: float | None,
    budget_level: str,
    signal_false_alarms: float,
    signal_tuning: bool,
    **given: Any,
) -> None:
    """Fit the practice model on DATA (a long or wide input file, as `ally analyze` reads) and
    save it as JSON: reliable change, cut-offs, expected courses and the dropout model."""
    from ally.cli.report import model_text
    from ally.engine.analyze import fit
    from ally.engine.errors import AnalysisError
    from ally.feedback.signals import BudgetLevel

    options = replace(
        _options(input_file, str(out.parent), **given),
        alert_budget=alert_budget,
        budget_level=BudgetLevel(budget_level),
        signal_tuning=signal_tuning,
        signal_false_alarms=signal_false_alarms,
    )
    try:
        model, summary = fit(options)
    except (AnalysisError, MeasureFileError) as exc:
        raise click.ClickException(str(exc)) from exc
    out.write_text(model.to_json(), encoding="utf-8")
    click.echo(model_text(model, summary))
    click.echo(f"Wrote {out}")


def main() -> None:
    cli(prog_name="ally")
