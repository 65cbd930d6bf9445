"""What was done about an alert (free text about the client) is sealed under the client's data
key, as their name is (issue 19: notes were stored in the clear)."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from web_practice import PHQ9_ITEM9, Practice

from ally.web.actions.alerts import do_act_on_alert
from ally.web.actions.answers import do_create_administration, do_record_response
from ally.web.alerts.models import Alert
from ally.web.privacy.models import ClientKey

NOTE = "Called Sam's mother, Jane Roe; safety plan agreed."


def _acted(practice: Practice) -> Alert:
    form = do_create_administration(practice.own, "phq9")
    do_record_response(form, PHQ9_ITEM9, idempotency_key="item-9")
    alert = Alert.objects.get(episode=practice.own)
    return do_act_on_alert(alert, practice.clinician, NOTE)


def _column(alert: Alert) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT action_note FROM alerts_alert WHERE id = %s", [alert.pk])
        return str(cursor.fetchone()[0])


def test_the_database_holds_no_note_in_the_clear(practice: Practice) -> None:
    alert = _acted(practice)
    stored = _column(alert)
    assert "Jane" not in stored
    assert "safety plan" not in stored
    assert Alert.objects.get(pk=alert.pk).note == NOTE


def test_a_note_moved_to_another_alert_does_not_open(practice: Practice) -> None:
    alert = _acted(practice)
    other = Alert.objects.create(
        episode=practice.own, kind="rupture", message="m", raised_at=timezone.now()
    )
    other.action_note = _column(alert)
    assert other.note == ""


def test_new_data_keys_seal_the_notes_again(practice: Practice) -> None:
    alert = _acted(practice)
    before = _column(alert)
    call_command("rotate_keys", "--data-keys", stdout=StringIO())
    assert _column(alert) != before
    assert Alert.objects.get(pk=alert.pk).note == NOTE


def test_an_erased_clients_notes_no_longer_open(practice: Practice) -> None:
    alert = _acted(practice)
    ClientKey.objects.filter(client=practice.own.client).delete()
    assert Alert.objects.get(pk=alert.pk).note == ""


@pytest.mark.django_db(transaction=True)
def test_notes_kept_in_the_clear_by_an_older_ally_are_sealed_by_the_migration(
    django_db_blocker: Any,
) -> None:
    from web_practice import build_practice

    practice = build_practice()
    alert = Alert.objects.create(
        episode=practice.own,
        kind="critical_item",
        message="m",
        raised_at=timezone.now(),
        seen_at=timezone.now(),
        seen_by=practice.clinician,
        acted_at=timezone.now(),
        acted_by=practice.clinician,
        action_note=NOTE,
    )
    executor = MigrationExecutor(connection)
    executor.migrate([("collect", "0002_administration_reminded_at")])
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert "Jane" not in _column(alert)
    assert Alert.objects.get(pk=alert.pk).note == NOTE
