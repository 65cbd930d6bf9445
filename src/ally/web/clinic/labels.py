"""The words the staff screens use for the engine's and the models' codes, translatable.

Colour never carries meaning alone (WCAG 1.4.1): every signal, flag and state is shown as a word
from here, and the CSS class only adds the colour.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ally.feedback.dropout_features import LONG_GAP_DAYS
from ally.web.alerts.models import AlertKind
from ally.web.collect.models import AdministrationStatus, Respondent, Timing
from ally.web.practice.models import EndReason, SessionStatus

Words = dict[Any, Promise]
"""Words by code. Keys are the models' choice values: Django's TextChoices members, which mypy
sees as (value, label) tuples without Django's type stubs, so the keys are typed Any."""

# The signal colours of docs/feedback.md, in a clinician's words.
SIGNAL_WORDS: Words = {
    "red": _("Not on track"),
    "yellow": _("Less progress than expected"),
    "green": _("On track"),
    "white": _("Outside the clinical range"),
}
NO_SIGNAL = _("No signal yet")

# The transparent dropout-risk indicators of docs/dropout.md.
RISK_FLAG_WORDS: Words = {
    "low_alliance": _("Low alliance"),
    "alliance_drop": _("Alliance fell"),
    "unrepaired_rupture": _("Rupture not repaired"),
    "no_progress": _("No progress since the start"),
    "deteriorated": _("Reliably worse than at the start"),
    "long_gap": _("More than 14 days between the last two sessions"),
}

RELIABLE_CHANGE_WORDS: Words = {
    "improved": _("Reliably improved"),
    "unchanged": _("No reliable change"),
    "deteriorated": _("Reliably worse"),
}

CATEGORY_WORDS: Words = {
    "recovered": _("Recovered"),
    "improved": _("Improved"),
    "unchanged": _("Unchanged"),
    "deteriorated": _("Deteriorated"),
    "harmed": _("Harmed"),
}

ALERT_WORDS: Words = {
    AlertKind.CRITICAL_ITEM: _("Critical item endorsed"),
    AlertKind.CRITICAL_UNANSWERED: _("Critical item left unanswered"),
    AlertKind.SIGNAL_RED: _("Not on track (red signal)"),
    AlertKind.RUPTURE: _("Alliance rupture"),
    AlertKind.DROPOUT_RISK: _("High dropout risk"),
}

ALERT_STATE_WORDS: Words = {
    "raised": _("New"),
    "seen": _("Seen"),
    "acted_on": _("Acted on"),
}

SESSION_STATUS_WORDS: Words = {
    SessionStatus.SCHEDULED: _("Scheduled"),
    SessionStatus.ATTENDED: _("Attended"),
    SessionStatus.MISSED: _("Missed"),
    SessionStatus.CANCELLED: _("Cancelled"),
}

FORM_STATUS_WORDS: Words = {
    AdministrationStatus.CREATED: _("Not sent yet"),
    AdministrationStatus.SENT: _("Sent"),
    AdministrationStatus.OPENED: _("Opened"),
    AdministrationStatus.COMPLETED: _("Completed"),
    AdministrationStatus.EXPIRED: _("Expired"),
}

RESPONDENT_WORDS: Words = {
    Respondent.CLIENT: _("Client"),
    Respondent.CLINICIAN: _("Clinician"),
    Respondent.OBSERVER: _("Observer"),
}

TIMING_WORDS: Words = {
    Timing.BEFORE: _("Before the session"),
    Timing.AFTER: _("After the session"),
}

END_REASON_WORDS: Words = {
    EndReason.PLANNED: _("Planned ending"),
    EndReason.DROPOUT: _("Client stopped coming"),
    EndReason.REFERRED: _("Referred elsewhere"),
    EndReason.OTHER: _("Other"),
}

# The severity bands of the measure files (e.g. PHQ-9's, Kroenke et al. 2001), in the reader's
# language; a band a new measure file brings shows as its file names it.
BAND_WORDS: Words = {
    "minimal": _("minimal"),
    "mild": _("mild"),
    "moderate": _("moderate"),
    "moderately severe": _("moderately severe"),
    "moderate-to-severe": _("moderate-to-severe"),
    "severe": _("severe"),
    "healthy": _("healthy"),
    "low level": _("low level"),
    "very low wellbeing": _("very low wellbeing"),
    "low wellbeing": _("low wellbeing"),
    "good wellbeing": _("good wellbeing"),
}

SUBSCALE_WORDS: Words = {
    "bond": _("Bond"),
    "goals": _("Goals"),
    "tasks": _("Tasks"),
    "overall": _("Overall"),
    "approach": _("Approach"),
    "relationship": _("Relationship"),
}


def word(words: Words, code: str) -> str:
    """The word for a code, or the code itself when it is new to this table."""
    return str(words.get(code, code))


def days_without_session(last_attended: dt.datetime | None, now: dt.datetime) -> str:
    """An open episode's sign of risk as of now: more than LONG_GAP_DAYS (the dropout model's
    "long gap", docs/dropout.md) since its last attended session, counted when the page is
    shown rather than at the latest answer; "" otherwise."""
    if last_attended is None:
        return ""
    days = (now - last_attended).days
    if days <= LONG_GAP_DAYS:
        return ""
    return gettext("No session for %(days)s days") % {"days": days}


def risk_flag_words(flags: str) -> list[str]:
    """The engine's `;`-separated indicators as words."""
    return [word(RISK_FLAG_WORDS, flag) for flag in flags.split(";") if flag]
