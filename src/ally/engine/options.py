"""What one `ally analyze` run is asked to do, and the parameters each measure is analysed with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ally.change.cutoffs import Population
from ally.change.reliable import Method
from ally.feedback.alliance import STRAUSS_2006, RuptureConfig
from ally.measures.schema import Direction, Measure
from ally.scoring.rules import score_range


@dataclass(frozen=True)
class Options:
    input: Path
    out: Path
    format: Literal["csv", "parquet"] = "csv"
    client_column: str = "client"
    episode_column: str = "episode"
    session_column: str = "session"
    wide_measures: tuple[str, ...] = ()
    """Wide input: these columns hold totals of measures of the same names."""
    reliability: float | None = None
    reliability_post: float | None = None
    """The post-treatment reliability, used by the NK method; default the same as pre."""
    direction: Direction | None = None
    functional_mean: float | None = None
    functional_sd: float | None = None
    cutoff: float | None = None
    """An explicit clinical cut-off; overrides the measure's own."""
    rci_method: Method = Method.JT
    pre: int | None = None
    post: int | None = None
    strict: bool = False
    measures_dirs: tuple[Path, ...] = ()
    etr_models: tuple[Path, ...] = ()
    """Fitted expected-response models (`ally etr fit`), one per outcome measure."""
    dropout_model: Path | None = None
    rupture_config: RuptureConfig = STRAUSS_2006
    feedback: bool = True
    """False leaves out signals, ruptures and dropout risk (their columns stay, empty)."""
    threads: int | None = None
    memory_limit: str | None = "1500MB"
    """DuckDB's memory limit; beyond it, intermediate tables spill to a temporary folder."""
    progress: bool | None = None
    """None shows a progress bar only when the terminal is interactive."""


@dataclass(frozen=True)
class MeasureParams:
    """How one measure is analysed: from its definition, overridden by the command line."""

    id: str
    direction: Direction
    reliability: float | None
    functional: Population | None
    cutoff: float | None
    """The clinical cut-off given in advance (published or on the command line), if any."""
    cutoff_inclusive: bool
    """Whether a score equal to the cut-off counts as clinical (published caseness thresholds)."""
    minimum: float | None
    maximum: float | None
    measure: Measure | None
    method: Method = Method.JT
    reliability_post: float | None = None

    @property
    def sign(self) -> int:
        return self.direction.sign


def measure_params(measure_id: str, measure: Measure | None, options: Options) -> MeasureParams:
    """Command-line values win over the measure file's, so a user can test other assumptions."""
    direction = options.direction or (measure.direction if measure else None)
    reliability = options.reliability
    if reliability is None and measure is not None and measure.reliability is not None:
        reliability = measure.reliability.value
    cli_functional = None
    if options.functional_mean is not None and options.functional_sd is not None:
        cli_functional = Population(options.functional_mean, options.functional_sd)
    published = measure.clinical_cutoff if measure is not None else None
    file_functional = None
    if measure is not None and measure.norms.functional is not None:
        file_functional = Population(measure.norms.functional.mean, measure.norms.functional.sd)
    # The most specific wins: an explicit cut-off, then norms given for this run, then the
    # measure's published cut-off, then the measure's norms (Jacobson & Truax cut-off c).
    functional: Population | None = None
    cutoff: float | None = None
    inclusive = False
    if options.cutoff is not None:
        cutoff = options.cutoff
    elif cli_functional is not None:
        functional = cli_functional
    elif published is not None:
        cutoff, inclusive = published, True
    else:
        functional = file_functional
    if direction is None:
        raise ValueError(f"measure {measure_id!r} needs a direction")
    minimum = maximum = None
    if measure is not None:
        minimum, maximum = score_range(measure)
    return MeasureParams(
        id=measure_id,
        direction=direction,
        reliability=reliability,
        functional=functional,
        cutoff=cutoff,
        cutoff_inclusive=inclusive,
        minimum=minimum,
        maximum=maximum,
        measure=measure,
        method=options.rci_method,
        reliability_post=options.reliability_post,
    )
