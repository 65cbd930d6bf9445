"""Endings through the API (issue 13): ending an episode by plan with the end page's rules and
refusals, and reading how it ended: the outcome, what was sent, the client's review and the
closing summary, each only for those who may read it."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from api_tokens import bearer, register, token_for
from django.test import Client
from django.utils import timezone
from web_practice import PHQ9_MILD, Practice, sign_in

from ally.web.actions.answers import do_create_administration, do_record_response
from ally.web.actions.endings import do_record_review
from ally.web.endings.models import EndingForm
from ally.web.practice.models import Session

SUMMARY = "Worked on sleep; the client keeps the evening walks"
HELPED = "Writing things down before bed"


def _held_sessions(practice: Practice) -> None:
    """Two held sessions with a PHQ-9 answered at each, so the course has an outcome."""
    now = timezone.now()
    for number, answers in ((1, [3] * 9), (2, PHQ9_MILD)):
        session = Session.objects.create(
            organisation=practice.org,
            episode=practice.own,
            number=number,
            scheduled_at=now - dt.timedelta(days=14 * (2 - number) + 1),
            status="attended",
        )
        form = do_create_administration(practice.own, "phq9", session=session, timing="before")
        do_record_response(form, answers, idempotency_key=f"s{number}")


def _post(client: Client, practice: Practice, body: dict[str, object]) -> Any:
    return client.post(
        f"/api/o/north/episodes/{practice.own.pk}/ending",
        data=json.dumps(body),
        content_type="application/json",
    )


def test_ending_by_plan_sends_the_review_and_reads_back_as_the_pages_show_it(
    practice: Practice,
) -> None:
    _held_sessions(practice)
    clinician = Client()
    sign_in(clinician, practice.clinician.user)
    url = f"/api/o/north/episodes/{practice.own.pk}/ending"
    before = clinician.get(url).json()
    assert (before["ended_on"], before["forms"], before["review"]) == (None, [], None)
    reply = _post(
        clinician,
        practice,
        {"summary": SUMMARY, "follow_up": {"measure_ids": ["phq9"], "weeks": 8}},
    )
    assert reply.status_code == 201, reply.content
    ended = reply.json()
    assert (ended["ended_on"], ended["end_reason"]) == (str(timezone.localdate()), "planned")
    assert [f["purpose"] for f in ended["forms"]] == ["review"]
    [outcome] = ended["outcomes"]
    assert (outcome["measure_id"], outcome["first_score"], outcome["last_score"]) == (
        "phq9",
        27,
        sum(PHQ9_MILD),
    )
    assert outcome["category"] == "recovered"
    assert ended["closing_summary"]["text"] == SUMMARY
    assert ended["follow_up"]["weeks"] == 8
    assert ended["follow_up"]["scores"][0]["end_score"] == sum(PHQ9_MILD)
    # The client answers their review by link; the API reads it back.
    review = EndingForm.objects.get(ending__episode=practice.own, purpose="review")
    do_record_review(review.administration, 2, {"helped": HELPED}, idempotency_key="r")
    read = clinician.get(url).json()
    assert read["review"]["change"] == 2
    assert read["review"]["answers"] == {"helped": HELPED}
    assert read["forms"][0]["status"] == "completed"
    # A researcher and a token read the numbers, never the client's or the clinician's words.
    researcher = Client()
    sign_in(researcher, practice.researcher.user)
    token = token_for(register(practice.admin, ["episodes:read"]))
    for caller, headers in ((researcher, {}), (Client(), bearer(token))):
        seen = caller.get(url, headers=headers).json()
        assert seen["review"]["change"] == 2
        assert seen["review"]["answers"] is None
        assert seen["closing_summary"] is None
        assert seen["closing_summary_hidden"] is True
        assert seen["outcomes"] == read["outcomes"]
        assert HELPED not in json.dumps(seen)
        assert SUMMARY not in json.dumps(seen)


def test_the_end_pages_refusals_come_back_by_field_and_an_ended_episode_is_a_409(
    practice: Practice,
) -> None:
    clinician = Client()
    sign_in(clinician, practice.clinician.user)
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    future = _post(clinician, practice, {"ended_on": str(tomorrow)})
    assert future.status_code == 422
    [problem] = future.json()["errors"]
    assert problem["loc"] == ["body", "ended_on"]
    assert problem["message"] == "The end date is in the future; end the episode on the day."
    before = _post(clinician, practice, {"ended_on": "2025-12-31"})
    assert before.json()["errors"][0]["message"].startswith("The end date is before")
    not_outcome = _post(
        clinician, practice, {"follow_up": {"measure_ids": ["ally-alliance"], "weeks": 6}}
    )
    assert not_outcome.status_code == 422
    assert not_outcome.json()["errors"][0]["loc"] == ["body", "follow_up", "measure_ids"]
    assert not EndingForm.objects.exists()
    assert _post(clinician, practice, {"reason": "dropout"}).status_code == 201
    again = _post(clinician, practice, {})
    assert (again.status_code, again.json()["detail"]) == (409, "This episode has ended already.")
    # An unplanned ending sends the client nothing.
    assert not EndingForm.objects.exists()
