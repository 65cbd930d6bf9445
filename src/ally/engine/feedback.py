"""Session feedback in the batch engine: expected course and signals on outcome rows.

The curves and signal rules are the core's (`ally.feedback`); this module only applies them to
columns, one branch per measure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import ibis
from ibis.expr.types import Table, Value

from ally.engine import columns as col
from ally.engine.errors import AnalysisError
from ally.engine.options import MeasureParams
from ally.engine.rows import cases_or_null
from ally.feedback.etr import (
    EtrModel,
    EtrModelError,
    ExpectedResponse,
    RationalEtr,
    load_etr,
)
from ally.feedback.signals import FALLBACK, SignalThresholds, signal_conditions
from ally.measures.schema import Kind

FEEDBACK_COLUMNS = ("expected", "expected_low", "expected_high", "signal")


@dataclass(frozen=True)
class OutcomePlan:
    """How the signals of one outcome measure are computed in this run."""

    measure: str
    model: ExpectedResponse
    thresholds: SignalThresholds
    cutoff: float | None
    cutoff_is_clinical: bool
    reliable_change: float
    sign: int

    @property
    def source(self) -> str:
        if isinstance(self.model, EtrModel):
            return f"expected course fitted on {self.model.summary.episodes:,} episodes"
        return "rational expected course (no fitted model given)"


def load_models(
    paths: tuple[Path, ...], params: Mapping[str, MeasureParams]
) -> dict[str, EtrModel]:
    """The ETR models given with --etr, each checked against its measure and version."""
    models: dict[str, EtrModel] = {}
    for path in paths:
        try:
            head = EtrModel.from_json(path.read_text(encoding="utf-8"), str(path))
        except OSError as exc:
            raise AnalysisError(f"{path}: cannot be read ({exc.strerror}).") from exc
        except EtrModelError as exc:
            raise AnalysisError(str(exc)) from exc
        p = params.get(head.measure_id)
        if p is None:
            raise AnalysisError(
                f"{path}: the model is for {head.measure_id!r}, which the input does not have. "
                f"Its measures are: {', '.join(sorted(params))}."
            )
        version = p.measure.version if p.measure else head.measure_version
        try:
            models[head.measure_id] = load_etr(path, head.measure_id, version)
        except EtrModelError as exc:
            raise AnalysisError(str(exc)) from exc
    return models


def is_outcome(p: MeasureParams) -> bool:
    # A measure given only on the command line is analysed as an outcome.
    return p.measure is None or p.measure.kind is Kind.OUTCOME


def outcome_plan(
    p: MeasureParams,
    fitted: EtrModel | None,
    cutoff: float | None,
    reliable_change: float | None,
) -> OutcomePlan | None:
    """The plan for one measure, or None when it has no reliable change value to work with."""
    if reliable_change is None or not reliable_change > 0:
        return None
    model: ExpectedResponse = fitted or RationalEtr(reliable_change=reliable_change, sign=p.sign)
    return OutcomePlan(
        measure=p.id,
        model=model,
        thresholds=fitted.thresholds if fitted else SignalThresholds(),
        cutoff=cutoff,
        cutoff_is_clinical=p.cutoff_inclusive,
        reliable_change=reliable_change,
        sign=p.sign,
    )


def _clipped(value: Value, low: float, high: float) -> Value:
    if math.isfinite(high):
        value = ibis.least(value, high)
    if math.isfinite(low):
        value = ibis.greatest(value, low)
    return value


def outcome_columns(t: Table, plans: Mapping[str, OutcomePlan]) -> dict[str, Value]:
    """expected, expected_low, expected_high and signal for the client's outcome rows."""
    session = t[col.SESSION_NUMBER]
    # The expected course starts from the intake score: without session 1 there is none.
    present = t[col.SCORE_VALUE].notnull() & t.baseline.notnull() & (t.earliest_session == 1)
    branches: dict[str, list[tuple[Value, Value]]] = {name: [] for name in FEEDBACK_COLUMNS}
    for name, plan in plans.items():
        rows = (t[col.MEASURE] == name) & (t[col.RATER] == "client") & present
        model = plan.model
        intake = _clipped(t.baseline, *model.intake_range)
        log_session = _clipped(
            session.cast("float64").ln(), model.min_log_session, model.max_log_session
        )
        expected = model.expected(intake, log_session)
        low = model.low(intake, log_session)
        high = model.high(intake, log_session)
        conditions = signal_conditions(
            t[col.SCORE_VALUE],
            t.baseline,
            expected,
            low,
            high,
            session,
            cutoff=plan.cutoff,
            reliable_change=plan.reliable_change,
            sign=plan.sign,
            thresholds=plan.thresholds,
            cutoff_is_clinical=plan.cutoff_is_clinical,
        )
        signal = ibis.cases(*((c, s.value) for s, c in conditions), else_=FALLBACK.value)
        for column, value in zip(FEEDBACK_COLUMNS, (expected, low, high, signal), strict=True):
            branches[column].append((rows, value))
    return {
        column: cases_or_null(found, "string" if column == "signal" else "float64")
        for column, found in branches.items()
    }
