"""The outcome chart: a Vega-Lite spec drawn to SVG on the server, so no script runs in the page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from ally.web.clinic.charts import WIDTH, svg, with_text
from ally.web.dashboard.tables import CATEGORY_HEADERS

# Okabe & Ito's colour-blind-safe palette (2008, "Color Universal Design"), one colour per
# category; the legend names each, and the table holds the numbers.
COLOURS = ["#009E73", "#56B4E9", "#999999", "#E69F00", "#D55E00"]


def outcome_spec(values: Sequence[dict[str, object]]) -> dict[str, Any]:
    """Stacked bars: per measure, the share of ended episodes in each category."""
    share = _("Share of ended episodes")
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        # The measures' names take the room the client page's score axis takes.
        "width": WIDTH - 40,
        "data": {"values": list(values)},
        # A white edge keeps neighbouring categories apart for readers who tell colours apart
        # poorly; the legend names them.
        "mark": {"type": "bar", "stroke": "white", "strokeWidth": 1},
        "encoding": {
            # Measures by their short names (PHQ-9), so that the labels leave the bars room;
            # the tables above name them in full.
            "y": {
                "field": "measure",
                "type": "nominal",
                "title": None,
                "axis": {"labelLimit": 0},
            },
            "x": {
                "field": "share",
                "type": "quantitative",
                "stack": "zero",
                "title": share,
                "axis": {"format": "%", "values": [0, 0.25, 0.5, 0.75, 1]},
                "scale": {"domain": [0, 1]},
            },
            "color": {
                "field": "category",
                "type": "nominal",
                "title": None,
                "scale": {
                    "domain": [str(header) for header in CATEGORY_HEADERS.values()],
                    "range": COLOURS,
                },
                "legend": {"direction": "horizontal", "columns": 2},
            },
            "order": {"field": "order", "type": "quantitative"},
            "tooltip": None,
        },
        "config": with_text(),
    }


def outcome_svg(values: Sequence[dict[str, object]], labelled_by: str) -> SafeString | None:
    """The chart as SVG markup named by the caption `labelled_by`, or None with nothing to draw."""
    if not values:
        return None
    return svg(outcome_spec(values), labelled_by)
