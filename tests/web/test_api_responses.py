"""Answers through the API: one response per Idempotency-Key, every bad input a clear 422 or 409."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from web_practice import PHQ9_ITEM9, PHQ9_MILD, Practice, sign_in

from ally.web.actions import answers as actions
from ally.web.actions.answers import do_create_administration, do_record_response
from ally.web.alerts.models import Alert
from ally.web.collect.models import Administration, Response
from ally.web.monitoring import refresh
from ally.web.monitoring.models import SessionFeedback
from ally.web.practice.models import Session

MILD = {str(number): answer for number, answer in enumerate(PHQ9_MILD, start=1)}


@pytest.fixture
def refreshes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The episodes whose results each stored answer brought up to date."""
    calls: list[int] = []
    real = actions.refresh_episode

    def counted(episode: Any, now: Any = None) -> Any:
        calls.append(episode.pk)
        return real(episode, now)

    monkeypatch.setattr(actions, "refresh_episode", counted)
    return calls


@pytest.fixture
def signed_in(client: Client, practice: Practice) -> Client:
    sign_in(client, practice.clinician.user)
    return client


def url(administration: Administration) -> str:
    return f"/api/o/north/administrations/{administration.pk}/responses"


def post(
    client: Client, administration: Administration, answers: Any, key: str | None = "key-1"
) -> Any:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post(
        url(administration),
        data=json.dumps({"answers": answers}),
        content_type="application/json",
        headers=headers,
    )


def test_answers_are_scored_and_stored_with_the_member_who_entered_them(
    signed_in: Client, practice: Practice, phq9: Administration, refreshes: list[int]
) -> None:
    reply = post(signed_in, phq9, MILD)
    assert reply.status_code == 201
    stored = Response.objects.get()
    body = reply.json()
    assert body["id"] == stored.pk
    # PHQ-9 total of the mild answers: 1+1+1+1+1+0+1+1+0 = 7, the "mild" band (5-9).
    assert (body["total"], body["band"], body["critical"], body["alerts"]) == (7, "mild", False, [])
    assert stored.entered_by == practice.clinician
    assert refreshes == [practice.own.pk], "the episode's results were refreshed once"
    assert "no-store" in reply["Cache-Control"]


def test_a_critical_answer_raises_its_alert_in_the_reply(
    signed_in: Client, phq9: Administration
) -> None:
    answers = dict(enumerate(PHQ9_ITEM9, start=1))
    body = post(signed_in, phq9, answers).json()
    alert = Alert.objects.get()
    assert body["critical"] is True
    assert body["alerts"] == [{"id": alert.pk, "kind": "critical_item", "item": 9}]


def test_the_same_key_twice_stores_one_response_and_replies_the_same(
    signed_in: Client, phq9: Administration, refreshes: list[int]
) -> None:
    first = post(signed_in, phq9, MILD)
    second = post(signed_in, phq9, MILD)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json() == second.json()
    assert Response.objects.count() == 1
    assert (first.get("Idempotent-Replayed"), second["Idempotent-Replayed"]) == (None, "true")
    assert len(refreshes) == 1, "a replay stores nothing, so nothing to refresh"


def test_a_key_reused_for_other_answers_is_a_409(signed_in: Client, phq9: Administration) -> None:
    post(signed_in, phq9, MILD)
    other = dict(MILD, **{"1": 3})
    reply = post(signed_in, phq9, other)
    assert reply.status_code == 409
    assert "new key" in reply.json()["detail"]
    assert Response.objects.get().answers["1"] == 1


def test_an_answered_administration_is_a_409_with_a_message(
    signed_in: Client, phq9: Administration
) -> None:
    do_record_response(phq9, PHQ9_MILD, idempotency_key="by-link")
    reply = post(signed_in, phq9, MILD, key="entered-later")
    assert reply.status_code == 409
    assert "amendment" in reply.json()["detail"]
    assert Response.objects.count() == 1


def test_an_expired_administration_is_a_409(
    signed_in: Client, practice: Practice, refreshes: list[int]
) -> None:
    expired = do_create_administration(
        practice.own, "phq9", expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    reply = post(signed_in, expired, MILD)
    assert (reply.status_code, Response.objects.count(), refreshes) == (409, 0, [])
    assert "expired" in reply.json()["detail"]


def test_out_of_range_answers_are_a_422_per_item_without_repeating_them(
    signed_in: Client, phq9: Administration
) -> None:
    answers = dict(MILD, **{"3": 17, "5": 44})
    reply = post(signed_in, phq9, answers)
    assert reply.status_code == 422
    body = reply.json()
    assert [problem["item"] for problem in body["errors"]] == [3, 5]
    assert "0, 1, 2, 3" in body["errors"][0]["message"], "says what to give instead"
    assert "17" not in reply.content.decode()
    assert "44" not in reply.content.decode()
    assert not Response.objects.exists()
    phq9.refresh_from_db()
    assert phq9.status == "created"


def test_an_answer_that_is_not_a_number_is_named_by_its_item(
    signed_in: Client, phq9: Administration
) -> None:
    reply = post(signed_in, phq9, dict(MILD, **{"2": "often"}))
    assert reply.status_code == 422
    [problem] = reply.json()["errors"]
    assert problem["item"] == 2
    assert "often" not in reply.content.decode()


def test_too_few_answers_and_unknown_items_are_422(signed_in: Client, phq9: Administration) -> None:
    reply = post(signed_in, phq9, {"1": 1, "12": 2})
    assert reply.status_code == 422
    messages = " ".join(problem["message"] for problem in reply.json()["errors"])
    assert "items 1 to 9" in messages
    assert "answered" in messages


def test_an_item_that_is_not_a_number_is_a_422(signed_in: Client, phq9: Administration) -> None:
    reply = post(signed_in, phq9, dict(MILD, first=1))
    assert reply.status_code == 422
    assert reply.json()["errors"][0]["loc"][:2] == ["body", "answers"]


def test_a_missing_idempotency_key_is_a_422_naming_the_header(
    signed_in: Client, phq9: Administration
) -> None:
    reply = post(signed_in, phq9, MILD, key=None)
    assert reply.status_code == 422
    assert reply.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert not Response.objects.exists()


@pytest.mark.parametrize("key", ["", "has space", "x" * 101])
def test_a_malformed_idempotency_key_is_a_422(
    signed_in: Client, phq9: Administration, key: str
) -> None:
    assert post(signed_in, phq9, MILD, key=key).status_code == 422
    assert not Response.objects.exists()


@pytest.mark.parametrize(
    ("data", "content_type", "says"),
    [
        pytest.param('{"answers": {"1": 1,', "application/json", "not valid JSON", id="cut-off"),
        pytest.param('{"answers": {"1": NaN}}', "application/json", "not valid JSON", id="nan"),
        pytest.param("[1, 2, 3]", "application/json", "JSON object", id="array"),
        pytest.param(json.dumps({"answer": MILD}), "application/json", "answers", id="no-field"),
        pytest.param("", "application/json", "body is missing", id="empty"),
    ],
)
def test_a_body_that_is_not_the_json_asked_for_is_a_422(
    signed_in: Client, phq9: Administration, data: str, content_type: str, says: str
) -> None:
    reply = signed_in.post(
        url(phq9), data=data, content_type=content_type, headers={"Idempotency-Key": "k"}
    )
    assert reply.status_code == 422
    body = reply.json()
    assert set(body) == {"detail", "errors"}
    assert says in json.dumps(body)
    assert not Response.objects.exists()


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        pytest.param("answers=1", "application/x-www-form-urlencoded", id="form"),
        pytest.param(json.dumps({"answers": MILD}), "text/plain", id="text"),
    ],
)
def test_a_body_not_sent_as_json_is_a_415(
    signed_in: Client, phq9: Administration, data: str, content_type: str
) -> None:
    reply = signed_in.post(
        url(phq9), data=data, content_type=content_type, headers={"Idempotency-Key": "k"}
    )
    assert reply.status_code == 415
    body = reply.json()
    assert set(body) == {"detail", "errors"}
    assert "Content-Type: application/json" in body["detail"]
    assert not Response.objects.exists()


def test_a_failing_refresh_never_loses_the_response(
    signed_in: Client, phq9: Administration, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("results down")

    monkeypatch.setattr(refresh, "results", broken)
    reply = post(signed_in, phq9, MILD)
    assert reply.status_code == 201
    assert Response.objects.get().pk == reply.json()["id"]


def test_a_new_response_refreshes_the_feedback_the_api_shows(
    signed_in: Client, practice: Practice
) -> None:
    session = Session.objects.create(
        organisation=practice.org, episode=practice.own, number=1, scheduled_at=timezone.now()
    )
    administration = do_create_administration(practice.own, "phq9", session=session)
    assert post(signed_in, administration, MILD).status_code == 201
    row = SessionFeedback.objects.get(episode=practice.own)
    feedback = signed_in.get(f"/api/o/north/episodes/{practice.own.pk}/feedback").json()
    [shown] = feedback["sessions"]
    assert (shown["score"], shown["session_number"], shown["band"]) == (7, 1, row.band)
    assert shown["score"] == row.score
    assert [m["measure_id"] for m in feedback["measures"]] == ["phq9"]


def test_a_researcher_cannot_replay_a_key_to_read_a_response(
    client: Client, practice: Practice, phq9: Administration
) -> None:
    do_record_response(phq9, PHQ9_MILD, idempotency_key="key-1")
    sign_in(client, practice.researcher.user)
    reply = post(client, phq9, dict(enumerate(PHQ9_MILD, start=1)))
    assert reply.status_code == 403
    assert "total" not in reply.json()
