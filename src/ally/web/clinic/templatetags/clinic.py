"""Filters of the staff pages: codes into words, numbers into the way clinicians read them."""

from __future__ import annotations

from django import template
from django.utils.formats import number_format
from django.utils.translation import gettext

from ally.web.clinic import labels, roles
from ally.web.clinic.course import measure_name
from ally.web.collect.measures import short_name
from ally.web.practice.models import Membership
from ally.web.scoping import Capability, can

register = template.Library()


def may(membership: Membership, capability: str) -> bool:
    """Whether the member's role gives the capability (`scoping.CAPABILITIES`), by its name."""
    return can(membership, Capability(capability))


def measure_short(measure_id: str) -> str:
    """The measure's usual short name, e.g. "PHQ-9" from "... (PHQ-9)"."""
    return short_name(measure_id)


def measure_long(measure_id: str) -> str:
    return measure_name(measure_id)


def signal_word(signal: str) -> str:
    return labels.word(labels.SIGNAL_WORDS, signal) if signal else str(labels.NO_SIGNAL)


def signal_class(signal: str) -> str:
    return f"signal-{signal}" if signal else "signal-none"


_TABLES = {
    "alert": labels.ALERT_WORDS,
    "alert_state": labels.ALERT_STATE_WORDS,
    "session_status": labels.SESSION_STATUS_WORDS,
    "form_status": labels.FORM_STATUS_WORDS,
    "respondent": labels.RESPONDENT_WORDS,
    "timing": labels.TIMING_WORDS,
    "end_reason": labels.END_REASON_WORDS,
    "reliable_change": labels.RELIABLE_CHANGE_WORDS,
    "category": labels.CATEGORY_WORDS,
    "subscale": labels.SUBSCALE_WORDS,
    "band": labels.BAND_WORDS,
}


def words(code: str, table: str) -> str:
    """`{{ session.status|words:"session_status" }}`: the code in words."""
    return labels.word(_TABLES[table], code) if code else ""


def percent(value: float | None) -> str:
    """A share as a whole percentage in the reader's way: 13% in English, 13 % in German."""
    if value is None:
        return ""
    return gettext("%(percent)s%%") % {"percent": number_format(round(100 * value))}


def signed(value: float | None) -> str:
    """A change with its sign and the reader's decimal mark: +3, −2.5 (−2,5 in German), 0."""
    if value is None:
        return ""
    text = number_format(f"{round(abs(value), 1):g}")
    return f"+{text}" if value > 0 else f"\u2212{text}" if value < 0 else "0"


def lookup(mapping: dict[str, object], key: str) -> object:
    return mapping.get(key, "")


for _filter in (
    may,
    measure_short,
    measure_long,
    signal_word,
    signal_class,
    words,
    percent,
    signed,
    lookup,
):
    register.filter(_filter.__name__, _filter)


def open_alert_count(membership: Membership) -> int:
    """`{% open_alert_count membership as n %}`: the navigation's count, on every staff page
    whichever app's view drew it."""
    return roles.open_alert_count(membership)


register.simple_tag(open_alert_count)
