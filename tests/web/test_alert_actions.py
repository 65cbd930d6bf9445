"""Alerts: raised, then seen, then acted on with a note."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from web_practice import PHQ9_ITEM9, Practice

from ally.web.actions.alerts import AlertActionError, do_act_on_alert, do_mark_alert_seen
from ally.web.actions.answers import do_record_response
from ally.web.alerts.models import Alert
from ally.web.collect.models import Administration


@pytest.fixture
def alert(practice: Practice, phq9: Administration) -> Alert:
    do_record_response(phq9, PHQ9_ITEM9, idempotency_key="k1")
    return Alert.objects.get()


def test_seeing_keeps_the_first_member_and_time(practice: Practice, alert: Alert) -> None:
    seen = do_mark_alert_seen(alert, practice.clinician)
    again = do_mark_alert_seen(alert, practice.supervisor)
    assert (again.seen_by, again.seen_at, again.state) == (practice.clinician, seen.seen_at, "seen")


def test_acting_needs_a_note_and_happens_once(practice: Practice, alert: Alert) -> None:
    with pytest.raises(AlertActionError, match="what was done"):
        do_act_on_alert(alert, practice.clinician, " ")
    acted = do_act_on_alert(alert, practice.clinician, "Safety plan reviewed by phone.")
    assert (acted.state, acted.acted_by, acted.seen_by) == (
        "acted_on",
        practice.clinician,
        practice.clinician,
    )
    with pytest.raises(AlertActionError, match="already"):
        do_act_on_alert(alert, practice.supervisor, "Again")


def test_a_researcher_cannot_act_on_an_alert(practice: Practice, alert: Alert) -> None:
    with pytest.raises(PermissionDenied):
        do_act_on_alert(alert, practice.researcher, "note")
