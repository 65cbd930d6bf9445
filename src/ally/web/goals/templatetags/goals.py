"""`{% goals_section %}`: the goals section of the client page, from the page's own context
(`membership`, `episode`, `org`, `writable`)."""

from __future__ import annotations

from typing import Any

from django import template

from ally.web.clinic.charts import episode_drawings, labelled
from ally.web.goals.charts import goals_spec
from ally.web.goals.course import Goals, episode_goals
from ally.web.monitoring.models import ChartDrawing
from ally.web.scoping import scoped

register = template.Library()

CHART = "goals"
CAPTION_ID = "goals-chart-caption"


def goals_chart(membership: Any, goals: Goals) -> Any:
    """The goals chart as inline SVG (drawn once while its numbers are the same), or None."""
    spec = goals_spec(goals)
    if spec is None:
        return None
    drawings = scoped(ChartDrawing, membership)
    drawn = episode_drawings(drawings, goals.episode.pk, {CHART: spec})
    return labelled(drawn[CHART], CAPTION_ID)


def goals_section(context: template.Context) -> dict[str, Any]:
    membership = context["membership"]
    goals = episode_goals(membership, context["episode"])
    return {
        "org": context["org"],
        "episode": context["episode"],
        "writable": context.get("writable", False),
        "goals": goals,
        "chart": goals_chart(membership, goals),
        "caption_id": CAPTION_ID,
    }


register.inclusion_tag("goals/_section.html", takes_context=True)(goals_section)
