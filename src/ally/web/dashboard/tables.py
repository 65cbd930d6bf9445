"""The dashboard's figures as tables of text, with small counts hidden from researchers."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from ally.change.categories import Category
from ally.web.alerts.models import AlertKind
from ally.web.clinic.labels import CATEGORY_WORDS
from ally.web.collect.measures import measure, short_name
from ally.web.dashboard.figures import Figures, Tally, measures_of_kind

SMALL_CELL = 5
"""Counts below this are shown to researchers as "fewer than 5", and their shares not at all.

A handful of episodes in a cell (two dropouts of one clinician in one month) can point to one
person for someone who knows the practice; researchers work with de-identified data, so the
dashboard applies the small-number rule common in published health statistics. Supervisors and
administrators see the clients themselves anyway, so they get the exact counts.
"""

CATEGORY_HEADERS = {category: CATEGORY_WORDS[category] for category in Category}
"""The engine's outcome categories (ally.change.categories), in its order."""

UNCLASSIFIED = ""
"""The category the engine leaves empty when it cannot classify the change."""

ALERT_HEADERS = {
    AlertKind.CRITICAL_ITEM: gettext_lazy("Critical item"),
    AlertKind.CRITICAL_UNANSWERED: gettext_lazy("Critical item unanswered"),
    AlertKind.SIGNAL_RED: gettext_lazy("Red signal"),
    AlertKind.RUPTURE: gettext_lazy("Rupture"),
    AlertKind.DROPOUT_RISK: gettext_lazy("Dropout risk"),
}
"""Short column headers for the kinds of alert."""


@dataclass(frozen=True)
class Cell:
    """One figure as shown: its text and, for a count, its share of a whole."""

    text: str
    share: str = ""


@dataclass(frozen=True)
class Row:
    label: str
    cells: list[Cell]
    total: bool = False


@dataclass(frozen=True)
class Table:
    id: str
    caption: str
    columns: list[str]
    rows: list[Row]


def percent(part: int, whole: int) -> str:
    """A whole percentage, halves rounded up (1 of 8 is 13%)."""
    return _("%(percent)d%%") % {"percent": math.floor(100 * part / whole + 0.5)}


def one_decimal(value: float) -> str:
    """A number with one decimal, halves rounded up (Django's number_format cuts off)."""
    rounded = Decimal(repr(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return number_format(rounded, 1)


def wait_text(wait: dt.timedelta) -> str:
    """A time in plain words: minutes below an hour, hours below two days, else days."""
    hours = wait.total_seconds() / 3600
    if hours < 1:
        minutes = round(hours * 60)
        return ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes}
    if hours < 48:
        return _("%(n)s hours") % {"n": one_decimal(hours)}
    return _("%(n)s days") % {"n": one_decimal(hours / 24)}


class Display:
    """Turns counts into cells for one viewer: exact, or with small counts hidden."""

    def __init__(self, hide_small: bool) -> None:
        self.hide_small = hide_small

    def hidden(self, n: int) -> bool:
        return self.hide_small and n < SMALL_CELL

    def count(self, n: int, of: int | None = None) -> Cell:
        """A count, with its share of `of` when given (none of nothing, none when hidden)."""
        if self.hidden(n):
            return Cell(_("fewer than %(n)d") % {"n": SMALL_CELL})
        return Cell(str(n), percent(n, of) if of else "")

    def mean(self, total: float, n: int) -> Cell:
        """A mean over `n` episodes; hidden with the count, as a mean of few is nearly a value."""
        if n == 0:
            return Cell(_("no ratings"))
        if self.hidden(n):
            return Cell(_("fewer than %(n)d episodes") % {"n": SMALL_CELL})
        text = ngettext("%(mean)s (%(n)d episode)", "%(mean)s (%(n)d episodes)", n)
        return Cell(text % {"mean": one_decimal(total / n), "n": n})

    def median_wait(self, tally: Tally) -> Cell:
        if tally.median_wait is None:
            return Cell(_("none acted on"))
        if self.hidden(len(tally.waits)):
            return Cell(_("fewer than %(n)d alerts") % {"n": SMALL_CELL})
        return Cell(wait_text(tally.median_wait))


def _rows(figures: Figures, cells: Callable[[Tally], list[Cell]]) -> list[Row]:
    rows = [Row(str(member.user), cells(tally)) for member, tally in figures.clinicians]
    if figures.chosen is None:
        rows.append(Row(_("Whole practice"), cells(figures.total), total=True))
    return rows


def caseload_table(figures: Figures, show: Display) -> Table:
    def cells(t: Tally) -> list[Cell]:
        return [
            show.count(t.in_period),
            show.count(t.open_at_end),
            show.count(t.ended),
            show.count(t.dropouts, t.ended),
        ]

    columns = [
        _("Episodes in the period"),
        _("Open at the end"),
        _("Ended in the period"),
        _("Dropouts (share of ended)"),
    ]
    return Table("caseload", _("Episodes per clinician"), columns, _rows(figures, cells))


def alerts_table(figures: Figures, show: Display) -> Table:
    def cells(t: Tally) -> list[Cell]:
        open_by_kind = [show.count(t.open_alerts.get(str(kind), 0)) for kind in ALERT_HEADERS]
        return [
            *open_by_kind,
            show.count(t.open_alert_total),
            show.count(t.raised),
            show.count(t.acted, t.raised),
            show.median_wait(t),
        ]

    columns = [_("Open: %(kind)s") % {"kind": header} for header in ALERT_HEADERS.values()]
    columns += [
        _("Open: all kinds"),
        _("Raised in the period"),
        _("Acted on (share of raised)"),
        _("Median time to act"),
    ]
    return Table("alerts", _("Alerts per clinician"), columns, _rows(figures, cells))


def outcome_measures(figures: Figures) -> list[str]:
    """The outcome measures with an ended episode in the period, in library order."""
    return [m for m in measures_of_kind("outcome") if figures.total.outcomes.get(m)]


def classified(categories: dict[str, int]) -> int:
    return sum(n for category, n in categories.items() if category != UNCLASSIFIED)


def outcome_table(figures: Figures, show: Display, measure_id: str) -> Table:
    def cells(t: Tally) -> list[Cell]:
        categories = t.outcomes.get(measure_id, {})
        whole = classified(categories)
        shares = [show.count(categories.get(c, 0), whole) for c in CATEGORY_HEADERS]
        return [show.count(whole), *shares, show.count(categories.get(UNCLASSIFIED, 0))]

    name = measure(measure_id).name
    columns = [_("Ended with a category"), *map(str, CATEGORY_HEADERS.values())]
    columns.append(_("Not classified"))
    caption = _("%(measure)s: change over ended episodes") % {"measure": name}
    return Table(f"outcome-{measure_id}", caption, columns, _rows(figures, cells))


def alliance_table(figures: Figures, show: Display) -> Table:
    rated = [m for m in measures_of_kind("alliance") if m in figures.total.alliance]

    def cells(t: Tally) -> list[Cell]:
        means = [show.mean(*t.alliance.get(m, (0.0, 0))) for m in rated]
        return [*means, show.count(t.alliance_rated), show.count(t.unrepaired, t.alliance_rated)]

    columns = [_("Average %(measure)s") % {"measure": measure(m).name} for m in rated]
    columns += [_("Episodes with alliance ratings"), _("With an unrepaired rupture")]
    return Table("alliance", _("Alliance per clinician"), columns, _rows(figures, cells))


def chart_values(figures: Figures, show: Display) -> Sequence[dict[str, object]]:
    """The practice's outcome shares per measure, for the chart; hidden counts are left out."""
    values: list[dict[str, object]] = []
    for measure_id in outcome_measures(figures):
        categories = figures.total.outcomes[measure_id]
        whole = classified(categories)
        for order, (category, header) in enumerate(CATEGORY_HEADERS.items()):
            n = categories.get(category, 0)
            if whole and n and not show.hidden(n):
                values.append(
                    {
                        "measure": short_name(measure_id),
                        "category": str(header),
                        "order": order,
                        "share": n / whole,
                    }
                )
    return values
