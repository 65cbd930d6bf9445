"""The practice's own backtest of its signals, as the dashboard shows it.

Made when the practice model is fitted (`ally.feedback.fit.signal_backtest`): the earlier half
of the practice's completed episodes fit a model, and its signals are scored on the later half.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils.translation import gettext as _

from ally.feedback.practice import MeasureBacktest, PracticeModel, SignalBacktest
from ally.web.collect.measures import short_name
from ally.web.dashboard.tables import Cell, Display, percent
from ally.web.monitoring.models import PracticeModelFit


@dataclass(frozen=True)
class MeasureLine:
    name: str
    episodes: Cell
    deteriorators: Cell
    sensitivity: str
    """The share as text, or why there is none."""
    false_alarms: str


@dataclass(frozen=True)
class SignalsBacktest:
    fitted_at: dt.datetime | None
    """When the model was fitted; None before the first fit."""
    backtest: SignalBacktest | None
    """None before the first fit, or for a model fitted before Ally backtested its signals."""
    lines: list[MeasureLine]
    train_start: dt.date | None = None
    train_end: dt.date | None = None
    test_start: dt.date | None = None
    test_end: dt.date | None = None


def _day(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def _share(part: float | None) -> str:
    return "" if part is None else percent(round(part * 10_000), 10_000)


def _line(m: MeasureBacktest, b: SignalBacktest, show: Display) -> MeasureLine:
    name = short_name(m.measure)
    if m.sensitivity is None or m.others_flagged is None:
        too_few = _("too few to say (fewer than %(n)d reliably worse)") % {"n": b.min_deteriorators}
        if m.deteriorators >= b.min_deteriorators:
            too_few = _("too few other episodes to say")
        return MeasureLine(
            name, show.count(m.episodes), show.count(m.deteriorators), too_few, too_few
        )
    return MeasureLine(
        name,
        show.count(m.episodes),
        show.count(m.deteriorators),
        _share(m.sensitivity),
        _share(m.others_flagged),
    )


def signals_backtest(
    model: PracticeModel, fit: PracticeModelFit | None, show: Display
) -> SignalsBacktest:
    """What the dashboard says of the practice's backtested signals."""
    if fit is None or model.signal_backtest is None:
        return SignalsBacktest(fit.fitted_at if fit else None, None, [])
    b = model.signal_backtest
    return SignalsBacktest(
        fitted_at=fit.fitted_at,
        backtest=b,
        lines=[_line(m, b, show) for m in b.measures],
        train_start=_day(b.train_period[0]),
        train_end=_day(b.train_period[1]),
        test_start=_day(b.test_period[0]),
        test_end=_day(b.test_period[1]),
    )
