"""The app's feedback is the batch engine's: the same answers give the same numbers."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone
from web_practice import Practice

from ally.engine.analyze import analyze
from ally.engine.options import Options
from ally.web.alerts.models import FEEDBACK_KINDS, Alert, AlertKind
from ally.web.collect.actions import (
    do_amend_response,
    do_create_administration,
    do_record_response,
)
from ally.web.collect.models import Respondent
from ally.web.feedback import refresh
from ally.web.feedback.models import EpisodeFeedback, SessionFeedback
from ally.web.practice.models import EndReason, Episode, Session

# A worsening PHQ-9 course (10 -> 19): off the expected course by session 3.
PHQ9_COURSE = [
    [1, 1, 1, 1, 1, 1, 1, 2, 1],
    [2, 2, 1, 2, 1, 2, 2, 1, 1],
    [2, 2, 2, 2, 2, 2, 2, 2, 3],
]
# The alliance check-in falls by more than 15% at session 3: a rupture (Strauss et al. 2006).
ALLIANCE_COURSE = [[3, 3, 3, 3, 3, 3, 3], [3, 3, 3, 3, 3, 3, 3], [2, 1, 2, 2, 1, 2, 2]]


def _answer(episode: Episode, course: dict[str, list[list[int]]], start: int = 1) -> None:
    for offset in range(len(next(iter(course.values())))):
        number = start + offset
        session = Session.objects.create(
            organisation=episode.organisation,
            episode=episode,
            number=number,
            scheduled_at=timezone.now() - dt.timedelta(days=30 - number),
        )
        for measure, answers in course.items():
            administration = do_create_administration(episode, measure, session=session)
            do_record_response(
                administration, answers[offset], idempotency_key=f"{episode.pk}-{measure}-{number}"
            )


@pytest.fixture
def answered(practice: Practice) -> Episode:
    _answer(practice.own, {"phq9": PHQ9_COURSE, "ally-alliance": ALLIANCE_COURSE})
    return practice.own


def test_refresh_stores_what_ally_analyze_writes(answered: Episode, tmp_path: Path) -> None:
    refreshed = refresh.refresh_feedback(Episode.objects.filter(pk=answered.pk))
    assert (refreshed.administrations, refreshed.left_out) == (6, 0)

    # The same rows through the batch command give the same numbers.
    rows = list(refresh.engine_rows([answered], refresh.Refreshed()))
    refresh._write_input(rows, tmp_path / "input.csv")
    analyze(Options(input=tmp_path / "input.csv", out=tmp_path / "out", progress=False))
    with (tmp_path / "out" / "sessions.csv").open() as source:
        batch = {(r["measure"], int(r["session"])): r for r in csv.DictReader(source)}
    stored = SessionFeedback.objects.filter(episode=answered)
    assert len(stored) == len(batch) == 6
    for row in stored:
        expected = batch[(row.measure_id, row.session_number)]
        assert row.score == float(expected["score"])
        assert row.signal == expected["signal"]
        assert row.rupture == (expected["rupture"] == "true")
        assert row.expected == (float(expected["expected"]) if expected["expected"] else None)
    phq9 = stored.get(measure_id="phq9", session_number=3)
    assert (phq9.score, phq9.signal) == (19.0, "red")
    assert stored.get(measure_id="ally-alliance", session_number=3).rupture
    assert set(EpisodeFeedback.objects.filter(episode=answered).values_list("measure_id")) == {
        ("phq9",),
        ("ally-alliance",),
    }


def test_red_signal_and_rupture_raise_one_alert_each_however_often_refreshed(
    answered: Episode,
) -> None:
    for _ in range(2):
        refresh.refresh_feedback(Episode.objects.filter(pk=answered.pk))
    feedback_alerts = Alert.objects.filter(episode=answered, kind__in=FEEDBACK_KINDS)
    kinds = sorted(feedback_alerts.values_list("kind", "source_key"))
    assert kinds == [
        (AlertKind.RUPTURE, "ally-alliance:client:3"),
        (AlertKind.SIGNAL_RED, "phq9:client:3"),
    ]


def test_an_open_alert_is_not_repeated_at_the_next_session(
    practice: Practice, answered: Episode
) -> None:
    refresh.refresh_feedback(Episode.objects.filter(pk=answered.pk))
    _answer(answered, {"phq9": [[3, 3, 2, 2, 2, 2, 2, 2, 2]]}, start=4)
    refresh.refresh_feedback(Episode.objects.filter(pk=answered.pk))
    assert Alert.objects.filter(episode=answered, kind=AlertKind.SIGNAL_RED).count() == 1


def test_amended_answers_are_the_ones_analysed(practice: Practice, answered: Episode) -> None:
    response = answered.administrations.get(measure_id="phq9", session__number=1).response
    do_amend_response(response, [0] * 9, "typed in the wrong column", practice.clinician)
    refresh.refresh_feedback(Episode.objects.filter(pk=answered.pk))
    first = SessionFeedback.objects.get(episode=answered, measure_id="phq9", session_number=1)
    assert first.score == 0.0


def test_endings_and_raters_reach_the_engine(practice: Practice, answered: Episode) -> None:
    session = answered.sessions.get(number=1)
    administration = do_create_administration(
        answered, "ally-alliance", session=session, respondent=Respondent.CLINICIAN
    )
    do_record_response(administration, [3] * 7, idempotency_key="clin-1", actor=practice.clinician)
    answered.ended_on, answered.end_reason = dt.date(2026, 3, 1), EndReason.DROPOUT
    answered.save()
    rows = list(refresh.engine_rows([answered], refresh.Refreshed()))
    assert {row["ending"] for row in rows} == {"dropout"}
    assert sorted(row["rater"] for row in rows if row["session"] == 1) == [
        "client",
        "client",
        "clinician",
    ]
    refresh.refresh_feedback(Episode.objects.filter(pk=answered.pk))
    client_rating = SessionFeedback.objects.get(
        episode=answered, measure_id="ally-alliance", rater="client", session_number=1
    )
    assert client_rating.discrepancy == 0.0


def test_an_administration_without_a_session_is_counted_not_dropped_silently(
    practice: Practice,
) -> None:
    administration = do_create_administration(practice.own, "phq9")
    do_record_response(administration, [1] * 9, idempotency_key="loose")
    refreshed = refresh.refresh_feedback(Episode.objects.filter(pk=practice.own.pk))
    assert (refreshed.administrations, refreshed.left_out) == (0, 1)
    assert not SessionFeedback.objects.filter(episode=practice.own).exists()
