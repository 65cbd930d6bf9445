"""Template helpers of the privacy pages and the client's export page."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import formats, timezone
from django.utils.dateparse import parse_date, parse_datetime

from ally.web.practice.models import Membership
from ally.web.scoping import Capability, can

register = template.Library()


def may_export(membership: Membership) -> bool:
    """Whether the member's role may download a client's export (and see the privacy page)."""
    return can(membership, Capability.EXPORT_CLIENT_DATA)


def when(value: Any) -> str:
    """An ISO date or time of the export's data, in the practice's time zone and the page's
    language ("" for none)."""
    if not value:
        return ""
    text = str(value)
    if "T" not in text:  # a day, not a moment
        day = parse_date(text)
        return formats.date_format(day, "DATE_FORMAT") if day is not None else text
    moment = parse_datetime(text)
    if moment is None:
        return text
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return formats.date_format(moment, "DATETIME_FORMAT")


register.filter("may_export", may_export)
register.filter("when", when)
