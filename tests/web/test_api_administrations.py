"""Administrations and feedback through the API: created by the write path, read as stored."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from web_practice import PHQ9_MILD, Practice, sign_in

from ally.web.actions.answers import do_create_administration, do_record_response
from ally.web.collect.models import Administration
from ally.web.monitoring.models import EpisodeFeedback, SessionFeedback
from ally.web.practice.models import Episode, Session


def create(client: Client, episode: Episode, **body: Any) -> Any:
    return client.post(
        f"/api/o/north/episodes/{episode.pk}/administrations",
        data=json.dumps(body, default=str),
        content_type="application/json",
    )


def session_of(episode: Episode, number: int) -> Session:
    return Session.objects.create(
        organisation=episode.organisation,
        episode=episode,
        number=number,
        scheduled_at=timezone.now() + dt.timedelta(days=1),
    )


@pytest.fixture
def signed_in(client: Client, practice: Practice) -> Client:
    sign_in(client, practice.clinician.user)
    return client


def test_a_new_administration_of_a_session_expires_with_its_link(
    signed_in: Client, practice: Practice
) -> None:
    session = session_of(practice.own, 1)
    reply = create(
        signed_in,
        practice.own,
        measure_id="ally-alliance",
        respondent="client",
        timing="after",
        session_id=session.pk,
    )
    assert reply.status_code == 201
    body = reply.json()
    stored = Administration.objects.get()
    assert (body["id"], body["session_number"], body["timing"], body["status"]) == (
        stored.pk,
        1,
        "after",
        "created",
    )
    expected = session.scheduled_at + dt.timedelta(hours=settings.ALLY_LINK_HOURS)
    assert stored.expires_at == expected
    assert stored.measure_version == body["measure_version"] != ""


def test_an_unknown_measure_is_a_422_naming_the_known_ones(
    signed_in: Client, practice: Practice
) -> None:
    reply = create(signed_in, practice.own, measure_id="phq-99")
    assert reply.status_code == 422
    body = reply.json()
    assert "phq9" in body["detail"]
    assert "gad7" in body["detail"]
    assert body["errors"][0]["loc"] == ["body", "measure_id"]
    assert not Administration.objects.exists()


def test_a_session_of_another_episode_is_a_422(signed_in: Client, practice: Practice) -> None:
    for session in (session_of(practice.shared, 1), session_of(practice.elsewhere, 1)):
        reply = create(signed_in, practice.own, measure_id="phq9", session_id=session.pk)
        assert reply.status_code == 422
        assert reply.json()["errors"][0]["loc"] == ["body", "session_id"]
    assert not Administration.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"measure_id": "phq9", "expires_at": "2020-01-01T00:00:00Z"},
        {"measure_id": "phq9", "expires_at": "2030-01-01T00:00:00"},
        {"measure_id": "phq9", "session_id": "first"},
        {"measure_id": "phq9", "timing": "during"},
        {"measure_id": "phq9", "respondent": "neighbour"},
        {"measure_id": ""},
        {},
    ],
)
def test_bad_fields_are_a_422_and_store_nothing(
    signed_in: Client, practice: Practice, body: dict[str, Any]
) -> None:
    reply = create(signed_in, practice.own, **body)
    assert reply.status_code == 422
    assert reply.json()["errors"]
    assert not Administration.objects.exists()


def test_the_list_gives_each_administration_with_its_score_in_force(
    client: Client, practice: Practice
) -> None:
    answered = do_create_administration(practice.own, "phq9")
    response = do_record_response(answered, PHQ9_MILD, idempotency_key="k")
    do_create_administration(practice.own, "gad7")
    do_create_administration(practice.other, "phq9")  # another episode
    sign_in(client, practice.researcher.user)
    rows = client.get(f"/api/o/north/episodes/{practice.own.pk}/administrations").json()
    assert [(row["measure_id"], row["status"]) for row in rows] == [
        ("phq9", "completed"),
        ("gad7", "created"),
    ]
    assert rows[0]["score"] == {
        "response_id": response.pk,
        "total": 7.0,
        "band": response.band,
        "subscales": response.subscales,
        "critical": False,
        "answered": 9,
        "prorated": False,
        "amended": False,
    }


def test_feedback_gives_the_stored_rows_as_the_screens_show_them(
    client: Client, practice: Practice
) -> None:
    now = timezone.now()
    common = {"episode": practice.own, "measure_id": "phq9", "rater": "client"}
    for number, score in ((1, 15.0), (2, 9.0)):
        SessionFeedback.objects.create(
            **common,
            session_number=number,
            score=score,
            band="moderate" if score > 9 else "mild",
            baseline=15.0,
            change=score - 15.0,
            signal="green" if number == 2 else "",
            expected=12.5 if number == 2 else None,
            computed_at=now,
        )
    EpisodeFeedback.objects.create(
        **common,
        sessions=2,
        first_session=1,
        last_session=2,
        first_score=15.0,
        last_score=9.0,
        change=-6.0,
        reliable_change="improved",
        category="improved",
        computed_at=now,
    )
    SessionFeedback.objects.create(
        episode=practice.other,
        measure_id="phq9",
        rater="client",
        session_number=1,
        score=3.0,
        computed_at=now,
    )
    sign_in(client, practice.clinician.user)
    body = client.get(f"/api/o/north/episodes/{practice.own.pk}/feedback").json()
    assert body["episode_id"] == practice.own.pk
    assert [(row["session_number"], row["score"], row["signal"]) for row in body["sessions"]] == [
        (1, 15.0, ""),
        (2, 9.0, "green"),
    ]
    assert (body["sessions"][1]["change"], body["sessions"][1]["expected"]) == (-6.0, 12.5)
    [measure] = body["measures"]
    assert (measure["category"], measure["change"], measure["last_score"]) == (
        "improved",
        -6.0,
        9.0,
    )
    colleague_episode = client.get(f"/api/o/north/episodes/{practice.other.pk}/feedback")
    assert colleague_episode.status_code == 404
