"""`{% ending_section %}`: the ending section of the client page, from the page's own context
(`membership`, `episode`, `org`)."""

from __future__ import annotations

from typing import Any

from django import template

from ally.web.clinic.roles import can_write
from ally.web.endings.summary import episode_ending

register = template.Library()


def ending_section(context: template.Context) -> dict[str, Any]:
    membership = context["membership"]
    episode = context["episode"]
    return {
        "org": context["org"],
        "episode": episode,
        "ending": episode_ending(membership, episode),
        "can_write": can_write(membership),
    }


register.inclusion_tag("endings/_section.html", takes_context=True)(ending_section)
