"""`ally research`: linear mixed models and alliance–outcome analyses (docs/research.md)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ally.cli.common import measures_dir_option, measures_dirs_of

if TYPE_CHECKING:
    from ally.research.alliance_outcome import AllianceOutcome
    from ally.research.mixed import FixedEffect, MixedFit


@click.group()
def research() -> None:
    """Research statistics: mixed models and the alliance–outcome analyses."""


def _names(given: str) -> list[str]:
    return [n.strip() for n in given.split(",") if n.strip()]


def _f(value: float, digits: int = 3) -> str:
    if not math.isfinite(value):
        return "NA"
    return f"{value:.{digits}f}"


def _p(value: float) -> str:
    if not math.isfinite(value):
        return "NA"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _fixed_lines(effects: tuple[FixedEffect, ...], level: float) -> list[str]:
    width = max(len("name"), *(len(f.name) for f in effects))
    pct = f"{level * 100:g}%"
    lines = [
        f"  {'name':<{width}}  {'estimate':>10}  {'SE':>9}  {'z':>8}  {'p':>7}  {pct + ' CI':>22}"
    ]
    for f in effects:
        ci = f"[{_f(f.ci_low)}, {_f(f.ci_high)}]"
        lines.append(
            f"  {f.name:<{width}}  {_f(f.estimate):>10}  {_f(f.se):>9}  {_f(f.z, 2):>8}  "
            f"{_p(f.p):>7}  {ci:>22}"
        )
    return lines


def mixed_text(fit: MixedFit) -> str:
    """The fit as lme4's summary shows it, with z, p and intervals added."""
    how = "REML" if fit.reml else "maximum likelihood"
    re = fit.random
    lines = [f"Linear mixed model fit by {how} (statsmodels MixedLM)"]
    terms = " + ".join(f.name for f in fit.fixed[1:]) or "1"
    slopes = " + ".join(re.names[1:])
    lines.append(f"  {fit.outcome} ~ {terms} + ({'1 + ' + slopes if slopes else '1'} | {re.group})")
    if fit.reml:
        lines.append(f"  REML criterion (−2 REML log-likelihood): {fit.criterion:.4f}")
        lines.append(f"  REML log-likelihood: {fit.log_likelihood:.4f}")
    else:
        lines.append(f"  log-likelihood: {fit.log_likelihood:.4f}; deviance: {fit.criterion:.4f}")
    groups = f"{re.group} {fit.n_groups}" + "".join(
        f", {c.name} within {re.group} {n}" for c, n in zip(fit.nested, fit.n_nested, strict=True)
    )
    lines.append(f"  observations: {fit.n_obs}; groups: {groups}")
    lines.append("")
    lines.append("Random effects:")
    lines.append(f"  {'group':<20}  {'name':<16}  {'variance':>12}  {'SD':>10}  corr")
    for i, (name, var, sd) in enumerate(zip(re.names, re.variances, re.sds, strict=True)):
        corr = "  ".join(_f(re.correlation(i, j)) for j in range(i))
        lines.append(
            f"  {re.group if i == 0 else '':<20}  {name:<16}  {_f(var):>12}  {_f(sd):>10}  {corr}"
        )
    for c in fit.nested:
        lines.append(
            f"  {c.name + ' in ' + re.group:<20}  {'Intercept':<16}  {_f(c.variance):>12}  "
            f"{_f(c.sd):>10}"
        )
    lines.append(
        f"  {'Residual':<20}  {'':<16}  {_f(fit.residual_variance):>12}  {_f(fit.residual_sd):>10}"
    )
    lines.append("")
    lines.append("Fixed effects (Wald z on the normal distribution):")
    lines.extend(_fixed_lines(fit.fixed, fit.level))
    if not fit.converged:
        lines.append("")
        lines.append("Warning: the optimiser did not converge; do not rely on these estimates.")
    for note in fit.notes:
        lines.append(f"Note: {note}")
    return "\n".join(line.rstrip() for line in lines)


def _write_json(out: Path | None, found: dict[str, object]) -> None:
    if out is None:
        return
    out.write_text(json.dumps(found, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    click.echo(f"Wrote {out}")


@research.command("mixed")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--outcome", required=True, help="The outcome column.")
@click.option("--predictors", default="", help="Fixed-effect columns, comma-separated.")
@click.option("--group", required=True, help="The grouping column of the random intercept.")
@click.option(
    "--random-slope",
    "random_slopes",
    multiple=True,
    help="A predictor whose slope also varies by group (repeat for more); its covariance with "
    "the intercept is estimated.",
)
@click.option("--ml", is_flag=True, help="Maximum likelihood instead of REML.")
@click.option("--delimiter", default=",", show_default=True, help="The CSV field delimiter.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Also write JSON.")
def mixed_command(
    file: Path,
    outcome: str,
    predictors: str,
    group: str,
    random_slopes: tuple[str, ...],
    ml: bool,
    delimiter: str,
    out: Path | None,
) -> None:
    """Fit a linear mixed model to a CSV or Parquet FILE: fixed effects, variance components,
    log-likelihood, observations and groups (docs/research.md)."""
    from ally.engine.errors import AnalysisError
    from ally.engine.research import mixed

    slopes = [s for given in random_slopes for s in _names(given)]
    try:
        fit = mixed(file, outcome, _names(predictors), group, slopes, not ml, delimiter)
    except AnalysisError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(mixed_text(fit))
    _write_json(out, fit.to_dict())


def alliance_outcome_text(found: AllianceOutcome, alliance: str, outcome: str) -> str:
    fit = found.fit
    lines = [
        f"Alliance ({alliance}) at session s and outcome ({outcome}) at session s + 1",
        f"  {found.pairs} session pairs of {found.episodes} episodes, {found.clients} clients, "
        f"{found.clinicians} clinicians",
        f"  model: {outcome} next ~ alliance within + alliance between"
        + (f" + {outcome} now" if found.control_current_outcome else "")
        + f"; {found.structure}; {'REML' if fit.reml else 'ML'}",
        "  within: the session's alliance minus the client's mean; between: the client's mean "
        "minus the mean of all clients' means",
        "",
        "Effects on the next session's outcome (per point of alliance):",
        *_fixed_lines(fit.fixed, fit.level),
        "",
        "Variance components:",
        f"  {fit.random.group} intercept variance {_f(fit.random.variances[0])}"
        + "".join(f"; {c.name} in {fit.random.group} {_f(c.variance)}" for c in fit.nested)
        + f"; residual {_f(fit.residual_variance)}",
        f"  log-likelihood ({'REML' if fit.reml else 'ML'}) {fit.log_likelihood:.3f}",
    ]
    t = found.therapist
    if t is not None:
        lines += [
            "",
            "Therapist effect (null model of the same rows, next outcome ~ 1 + (1 | clinician/"
            "client)):",
            f"  share of the next outcome's variance between clinicians (ICC) {_f(t.icc)}, "
            f"{t.level * 100:g}% CI [{_f(t.ci_low)}, {_f(t.ci_high)}] ({t.method}, "
            f"{t.samples} of {t.drawn} samples)",
        ]
    for note in found.notes:
        lines.append(f"Note: {note}")
    return "\n".join(line.rstrip() for line in lines)


@research.command("alliance-outcome")
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--alliance", required=True, help="The alliance measure's id.")
@click.option("--outcome", required=True, help="The outcome measure's id.")
@click.option(
    "--alliance-rater",
    type=click.Choice(["client", "clinician"]),
    default="client",
    show_default=True,
)
@click.option("--clinician-effects", is_flag=True, help="Clients nested in clinicians.")
@click.option(
    "--control-current-outcome",
    is_flag=True,
    help="Also adjust for the outcome at the alliance's own session.",
)
@click.option(
    "--bootstrap",
    type=click.IntRange(20),
    default=200,
    show_default=True,
    help="Bootstrap samples of the therapist effect's interval.",
)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--delimiter", default=",", show_default=True, help="The CSV field delimiter.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Also write JSON.")
@measures_dir_option
def alliance_outcome_command(
    data: Path,
    alliance: str,
    outcome: str,
    alliance_rater: str,
    clinician_effects: bool,
    control_current_outcome: bool,
    bootstrap: int,
    seed: int,
    delimiter: str,
    out: Path | None,
    measures_dirs: tuple[Path, ...],
) -> None:
    """Within- and between-person effects of the alliance on the next session's outcome.

    DATA is a long input file as `ally analyze` reads it, or a folder `ally analyze` wrote.
    """
    from ally.engine.errors import AnalysisError
    from ally.engine.research import Choice, alliance_outcome_of
    from ally.measures.library import MeasureFileError

    try:
        found = alliance_outcome_of(
            data,
            Choice(alliance, alliance_rater),
            Choice(outcome, "client"),
            clinician_effects=clinician_effects,
            control_current_outcome=control_current_outcome,
            bootstrap=bootstrap,
            seed=seed,
            measures_dirs=measures_dirs_of(measures_dirs),
            delimiter=delimiter,
        )
    except (AnalysisError, MeasureFileError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(alliance_outcome_text(found, alliance, outcome))
    result = found.to_dict() | {"alliance": alliance, "outcome": outcome}
    _write_json(out, result)
