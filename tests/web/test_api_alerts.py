"""Alerts through the API: open ones by default, then seen, then acted on with a note."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from web_practice import PHQ9_ITEM9, Practice, sign_in

from ally.web.actions.alerts import do_act_on_alert
from ally.web.actions.answers import do_create_administration, do_record_response
from ally.web.alerts.models import Alert
from ally.web.practice.models import Episode


def raise_alert(episode: Episode, key: str) -> Alert:
    administration = do_create_administration(episode, "phq9")
    response = do_record_response(administration, PHQ9_ITEM9, idempotency_key=key)
    return Alert.objects.get(response=response)


@pytest.fixture
def alert(practice: Practice) -> Alert:
    return raise_alert(practice.own, "own")


def act(client: Client, alert: Alert, note: Any) -> Any:
    return client.post(
        f"/api/o/north/alerts/{alert.pk}/acted",
        data=json.dumps({"note": note}),
        content_type="application/json",
    )


def test_open_alerts_by_default_and_every_alert_on_request(
    client: Client, practice: Practice, alert: Alert
) -> None:
    done = raise_alert(practice.shared, "shared")
    do_act_on_alert(done, practice.colleague, "Talked it through.")
    raise_alert(practice.other, "other")  # not on the clinician's caseload
    raise_alert(practice.elsewhere, "elsewhere")  # another organisation
    sign_in(client, practice.clinician.user)
    open_ = client.get("/api/o/north/alerts").json()
    every = client.get("/api/o/north/alerts?state=all").json()
    assert [row["id"] for row in open_["items"]] == [alert.pk]
    assert sorted(row["id"] for row in every["items"]) == sorted([alert.pk, done.pk])
    [listed] = open_["items"]
    assert (listed["client_code"], listed["kind"], listed["item"], listed["state"]) == (
        "N-001",
        "critical_item",
        9,
        "raised",
    )
    assert client.get("/api/o/north/alerts?state=closed").status_code == 422


def test_seeing_an_alert_keeps_the_first_member(
    client: Client, practice: Practice, alert: Alert
) -> None:
    sign_in(client, practice.clinician.user)
    first = client.post(f"/api/o/north/alerts/{alert.pk}/seen").json()
    sign_in(client, practice.supervisor.user)
    again = client.post(f"/api/o/north/alerts/{alert.pk}/seen").json()
    assert (first["state"], first["seen_by_id"]) == ("seen", practice.clinician.pk)
    assert (again["seen_by_id"], again["seen_at"]) == (practice.clinician.pk, first["seen_at"])


def test_acting_records_the_note_once(client: Client, practice: Practice, alert: Alert) -> None:
    sign_in(client, practice.clinician.user)
    reply = act(client, alert, "  Safety plan reviewed by phone.  ")
    assert reply.status_code == 200
    body = reply.json()
    assert (body["state"], body["acted_by_id"], body["action_note"]) == (
        "acted_on",
        practice.clinician.pk,
        "Safety plan reviewed by phone.",
    )
    again = act(client, alert, "Second note")
    assert again.status_code == 409
    assert "already" in again.json()["detail"]
    assert Alert.objects.get().note == "Safety plan reviewed by phone."


@pytest.mark.parametrize("note", ["", "   ", None, 5])
def test_acting_without_a_note_is_a_422(
    client: Client, practice: Practice, alert: Alert, note: Any
) -> None:
    sign_in(client, practice.clinician.user)
    reply = act(client, alert, note)
    assert reply.status_code == 422
    assert reply.json()["errors"][0]["loc"] == ["body", "note"]
    assert Alert.objects.get().acted_at is None


def test_a_researcher_reads_alerts_without_their_free_text(
    client: Client, practice: Practice, alert: Alert
) -> None:
    do_act_on_alert(alert, practice.clinician, "Spoke with her mother, Jane.")
    sign_in(client, practice.researcher.user)
    reply = client.get("/api/o/north/alerts?state=all")
    assert reply.json()["items"][0]["action_note"] is None
    assert "Jane" not in reply.content.decode()
    sign_in(client, practice.supervisor.user)
    shown = client.get("/api/o/north/alerts?state=all").json()["items"][0]
    assert shown["action_note"] == "Spoke with her mother, Jane."


def test_a_researcher_cannot_act_and_is_told_why(
    client: Client, practice: Practice, alert: Alert
) -> None:
    sign_in(client, practice.researcher.user)
    reply = act(client, alert, "note")
    assert reply.status_code == 403
    assert "read" in reply.json()["detail"]
    assert Alert.objects.get().acted_at is None


def test_another_organisations_alert_is_a_404(client: Client, practice: Practice) -> None:
    elsewhere = raise_alert(practice.elsewhere, "elsewhere")
    sign_in(client, practice.admin.user)
    assert client.post(f"/api/o/north/alerts/{elsewhere.pk}/seen").status_code == 404
    assert client.post(f"/api/o/south/alerts/{elsewhere.pk}/seen").status_code == 404
    assert Alert.objects.get().seen_at is None
