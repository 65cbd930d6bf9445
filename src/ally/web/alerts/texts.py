"""What an alert says, in the reader's language.

An alert keeps what it is about (`Alert.details`: the measure, the session, the subscale, the
risk) and its text is written from that when it is shown, so a German clinician reads German.
`Alert.message` keeps the English text as it was raised, for the audit trail and the API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils import translation
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from ally.web.collect import measures


def alert_text(kind: str, details: Mapping[str, Any], item: int | None = None) -> str:
    """The alert's text in the active language; "" when `details` do not say enough (an alert
    raised before they were kept: its stored message stands)."""
    from ally.web.alerts.models import AlertKind

    measure_id = details.get("measure")
    session = details.get("session")
    if kind == str(AlertKind.CRITICAL_ITEM) and measure_id and item is not None:
        return _critical_message(measure_id, item)
    if kind == str(AlertKind.CRITICAL_UNANSWERED) and item is not None:
        return _("Critical item %(item)s was left unanswered; ask it in person.") % {"item": item}
    if kind == str(AlertKind.SIGNAL_RED) and measure_id and session:
        return _(
            "%(measure)s: the score at session %(session)s is off the expected course (red "
            "signal). Review progress with the client; see the suggestions on the client page."
        ) % {"measure": measures.short_name(measure_id), "session": session}
    if kind == str(AlertKind.RUPTURE) and measure_id and details.get("group_session"):
        # A group check-in: its leader counts the group's sessions, not the member's own.
        return _(
            "%(measure)s: the alliance fell at group session %(session)s, most in its "
            "“%(subscale)s” items. Talk about it with the member, in the group or one to one; "
            "see the suggestions on the client page."
        ) % {
            "measure": measures.short_name(measure_id),
            "session": details["group_session"],
            "subscale": _subscale_name(measure_id, details.get("subscale", "")),
        }
    if kind == str(AlertKind.RUPTURE) and measure_id and session:
        values = {"measure": measures.short_name(measure_id), "session": session}
        if details.get("subscale"):
            values["subscale"] = _subscale_name(measure_id, details["subscale"])
            return (
                _(
                    "%(measure)s: the alliance fell at session %(session)s, most in its "
                    "“%(subscale)s” items. Talk about it openly at the next session; see the "
                    "suggestions on the client page."
                )
                % values
            )
        return (
            _(
                "%(measure)s: the alliance fell at session %(session)s. Talk about it openly at "
                "the next session; see the suggestions on the client page."
            )
            % values
        )
    if kind == str(AlertKind.DROPOUT_RISK) and details.get("risk") is not None and session:
        percent = number_format(round(100 * float(details["risk"])))
        return _(
            "Estimated risk of dropping out is %(percent)s%% at session %(session)s. Check in on "
            "how the sessions fit the client."
        ) % {"percent": percent, "session": session}
    return ""


def english_text(kind: str, details: Mapping[str, Any], item: int | None = None) -> str:
    """The text stored with the alert when it is raised: English, whoever is signed in."""
    with translation.override("en"):
        return alert_text(kind, details, item)


def _in_language(text: Mapping[str, str]) -> str:
    """A measure file's text in the active language, else its English."""
    language = translation.get_language() or "en"
    return text.get(language) or text.get(language.split("-")[0]) or text.get("en", "")


def _critical_message(measure_id: str, item: int) -> str:
    try:
        measure = measures.measure(measure_id)
    except KeyError:
        return ""
    found = (c.message for c in measure.critical_items if c.item == item)
    return _in_language(next(found, {}))


def _subscale_name(measure_id: str, subscale: str) -> str:
    """The subscale as the measure file names it ("Bond", "Bindung"); its id if it has none."""
    try:
        scoring = measures.measure(measure_id).scoring
    except KeyError:
        return subscale
    found = (s.name for s in scoring.subscales if s.id == subscale)
    return _in_language(next(found, {})) or subscale
