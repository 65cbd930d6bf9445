"""Words for IPR's values on screen: a mark's time span, its kind and part, a consent."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext as _

from ally.web.ipr.forms import KINDS, clock
from ally.web.ipr.models import ConsentScope, Part

register = template.Library()


def span(mark: Any) -> str:
    if mark.end == mark.start:
        return clock(mark.start)
    return f"{clock(mark.start)}–{clock(mark.end)}"


def kind_words(kind: str) -> str:
    return str(dict(KINDS).get(kind, kind))


def part_words(mark: Any) -> str:
    return str(Part(mark.part).label)


def consent_words(recording: Any) -> str:
    if not recording.consent:
        return _("no consent yet") if recording.has_media else _("no consent")
    return str(ConsentScope(recording.consent).label)


def seconds(value: int | None) -> str:
    return "" if value is None else clock(value)


for _filter in (span, kind_words, part_words, consent_words, seconds):
    register.filter(_filter.__name__, _filter)
