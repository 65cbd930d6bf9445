"""What one `ally analyze` run is asked to do, and the parameters each measure is analysed with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ally.change.cutoffs import Population
from ally.change.goals import THRESHOLD as GOAL_THRESHOLD
from ally.change.reliable import Z_975, Method
from ally.feedback.alliance import STRAUSS_2006, RuptureConfig
from ally.feedback.fit import MIN_EPISODES, SUBSCALE_RUPTURE_Z
from ally.feedback.practice import MeasureParams, params_of
from ally.feedback.signals import MAX_OTHERS_FLAGGED, BudgetLevel
from ally.measures.schema import Direction, Measure

ENCODINGS = ("utf-8", "utf-16", "latin-1")
"""The encodings DuckDB's CSV reader decodes itself."""


@dataclass(frozen=True)
class Options:
    input: Path
    out: Path
    format: Literal["csv", "parquet"] = "csv"
    client_column: str = "client"
    episode_column: str = "episode"
    session_column: str = "session"
    measure_column: str = "measure"
    score_column: str = "score"
    date_column: str = "date"
    delimiter: str = ","
    """The CSV field delimiter; the quote is always `"` (RFC 4180)."""
    encoding: str = "utf-8"
    """utf-8, utf-16 or latin-1."""
    decimal: str = "."
    """The decimal separator of scores and answers: "." or ","."""
    date_format: str | None = None
    """strptime format of dates (e.g. %d.%m.%Y); None reads ISO 8601 (YYYY-MM-DD)."""
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
    model: Path | None = None
    """A practice model (`ally fit`) to apply; without one, the input's own is fitted first."""
    min_episodes: int = MIN_EPISODES
    """Episodes a measure needs before its own reliable change replaces the published value."""
    rupture_config: RuptureConfig = STRAUSS_2006
    sudden_gain_cutoffs: Mapping[str, float] = field(default_factory=dict)
    """Criterion 1 of sudden gains in points, by measure id (`--sudden-gain-cutoff phq9=7`)."""
    sudden_gain_z: float = Z_975
    """z of criterion 1 where it is derived from an SD and a reliability (`--sudden-gain-z`)."""
    subscale_rupture_z: float | None = SUBSCALE_RUPTURE_Z
    """z of an alliance subscale's own rupture threshold; None: the total alone ruptures."""
    alert_budget: float | None = None
    """At most this share of training episodes ever flagged by an expected course's signals."""
    budget_level: BudgetLevel = BudgetLevel.RED
    signal_tuning: bool = True
    """Choose each outcome measure's signal rule on the fitted episodes (`ally fit`)."""
    signal_false_alarms: float = MAX_OTHERS_FLAGGED
    """The share of episodes not ending reliably worse that the chosen rule may flag by
    session 3 (`--signal-false-alarms`)."""
    dropout_folds: int = 5
    """Cross-validation folds when the dropout model is fitted."""
    feedback: bool = True
    """False leaves out signals, ruptures and dropout risk (their columns stay, empty)."""
    goal_threshold: float = GOAL_THRESHOLD
    """Points of change on one goal that count as reliable progress (`--goal-threshold`)."""
    threads: int | None = None
    memory_limit: str | None = "1500MB"
    """DuckDB's memory limit; beyond it, intermediate tables spill to a temporary folder."""
    progress: bool | None = None
    """None shows a progress bar only when the terminal is interactive."""
    engine: Literal["duckdb", "spark"] = "duckdb"
    """The query engine: an embedded DuckDB, or Spark (`ally.engine.backends`)."""
    spark_master: str | None = None
    """Spark's master URL (e.g. local[4], spark://host:7077, yarn); None: Spark's own default,
    or what spark-submit gives."""
    spark_conf: tuple[tuple[str, str], ...] = ()
    """Spark settings for the session Ally starts (e.g. spark.driver.memory=8g); spark-submit's
    own --conf and --driver-memory serve when it starts the session."""
    input_location: str = ""
    out_location: str = ""
    """INPUT and --out as given, for Spark, which also reads and writes URLs (hdfs://, s3a://)
    that a Path cannot hold; empty: `input` and `out`."""


def measure_params(measure_id: str, measure: Measure | None, options: Options) -> MeasureParams:
    """Command-line values win over the measure file's, so a user can test other assumptions."""
    functional = None
    if options.functional_mean is not None and options.functional_sd is not None:
        functional = Population(options.functional_mean, options.functional_sd)
    return params_of(
        measure,
        measure_id=measure_id,
        direction=options.direction,
        reliability=options.reliability,
        reliability_post=options.reliability_post,
        functional=functional,
        cutoff=options.cutoff,
        method=options.rci_method,
    )
