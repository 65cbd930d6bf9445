"""The goals chart: each goal's progress 0-10 by session, a Vega-Lite spec drawn to SVG as the
client page's other charts are (`ally.web.clinic.charts`).

Goals are named by number ("Goal 2"), never by the client's words: drawings are stored in
plain text (ChartDrawing), and the table beside the chart gives the words to those who may
see them.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from ally.web.clinic.charts import HEIGHT, LINE_LEGEND, SCHEMA, WIDTH, with_text
from ally.web.goals.course import Goals

# Dark enough for 3:1 against white (WCAG 1.4.11), each with its own dash pattern so that
# colour is never the only way to tell two goals apart (WCAG 1.4.1).
GOAL_COLOURS = ["#0072B2", "#D55E00", "#117733", "#AA3377", "#6A3D9A"]
GOAL_DASHES = [[1, 0], [6, 3], [2, 2], [8, 3, 2, 3], [4, 4]]


def goal_name(number: int) -> str:
    return _("Goal %(number)s") % {"number": number}


def goals_values(goals: Goals) -> list[dict[str, Any]]:
    return [
        {"session": r.session, "goal": goal_name(g.number), "progress": r.value}
        for g in goals.goals
        for r in g.ratings
        if r.session is not None
    ]


def goals_spec(goals: Goals) -> dict[str, Any] | None:
    """Progress on each goal by session, the axis 0 to 10; None without a rated session."""
    values = goals_values(goals)
    if not values:
        return None
    sessions = sorted({v["session"] for v in values})
    step = max(1, (sessions[-1] - sessions[0]) // 12 + 1)
    names = [goal_name(g.number) for g in goals.goals if any(r.session for r in g.ratings)]
    numbers = [g.number for g in goals.goals if any(r.session for r in g.ratings)]
    return {
        "$schema": SCHEMA,
        "width": WIDTH,
        "height": HEIGHT,
        "data": {"values": values},
        "mark": {"type": "line", "point": {"filled": True, "size": 60}, "strokeWidth": 2},
        "encoding": {
            "x": {
                "field": "session",
                "type": "quantitative",
                "title": _("Session"),
                "axis": {"values": list(range(sessions[0], sessions[-1] + 1, step)), "format": "d"},
                "scale": {
                    "domain": [sessions[0], max(sessions[-1], sessions[0] + 1)],
                    "padding": 12,
                },
            },
            "y": {
                "field": "progress",
                "type": "quantitative",
                "title": _("Progress (0-10)"),
                "scale": {"domain": [0, 10], "nice": False},
                "axis": {"values": [0, 2, 4, 6, 8, 10]},
            },
            "color": {
                "field": "goal",
                "type": "nominal",
                "title": _("Goal"),
                "scale": {"domain": names, "range": [GOAL_COLOURS[n - 1] for n in numbers]},
                "legend": LINE_LEGEND,
            },
            "strokeDash": {
                "field": "goal",
                "type": "nominal",
                "title": _("Goal"),
                "scale": {"domain": names, "range": [GOAL_DASHES[n - 1] for n in numbers]},
            },
        },
        "config": with_text(),
    }
