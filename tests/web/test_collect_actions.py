"""The write path: one function records a response, scores it and raises its alerts."""

from __future__ import annotations

import datetime as dt
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, connections
from django.utils import timezone
from web_practice import PHQ9_ITEM9, PHQ9_MILD, Practice

from ally.measures import load_library
from ally.scoring import score
from ally.web.actions import answers as actions
from ally.web.actions.answers import (
    do_amend_response,
    do_create_administration,
    do_expire_administration,
    do_mark_opened,
    do_mark_sent,
    do_record_response,
)
from ally.web.alerts.models import Alert, AlertKind
from ally.web.auditlog.models import AuditEntry
from ally.web.collect.errors import (
    AdministrationClosedError,
    AmendmentRefusedError,
    IdempotencyConflictError,
    InvalidAnswersError,
)
from ally.web.collect.models import Administration, AdministrationStatus, Amendment, Response
from ally.web.monitoring.models import SessionFeedback
from ally.web.practice.models import Session


def test_the_stored_score_is_the_score_of_ally_scoring(
    practice: Practice, phq9: Administration
) -> None:
    expected = score(load_library().get("phq9"), PHQ9_MILD)
    response = do_record_response(phq9, PHQ9_MILD, idempotency_key="k1")
    response.refresh_from_db()
    assert (response.total, response.band, response.answered) == (
        expected.total,
        expected.band,
        expected.answered,
    )
    assert response.subscales == dict(expected.subscales)
    assert (response.measure_id, response.measure_version) == (
        phq9.measure_id,
        phq9.measure_version,
    )
    assert response.answers == {str(n): v for n, v in enumerate(PHQ9_MILD, start=1)}
    assert response.critical is False


def test_recording_completes_the_administration_with_its_timestamp(
    practice: Practice, phq9: Administration
) -> None:
    do_mark_sent(phq9)
    opened = do_mark_opened(phq9)
    do_record_response(phq9, PHQ9_MILD, idempotency_key="k1")
    phq9.refresh_from_db()
    assert phq9.status == AdministrationStatus.COMPLETED
    assert phq9.created_at <= phq9.sent_at <= phq9.opened_at <= phq9.completed_at
    assert phq9.opened_at == opened.opened_at


def test_an_endorsed_critical_item_raises_an_alert(
    practice: Practice, phq9: Administration
) -> None:
    response = do_record_response(phq9, PHQ9_ITEM9, idempotency_key="k1")
    alert = Alert.objects.get()
    assert (alert.kind, alert.item, alert.raises) == (AlertKind.CRITICAL_ITEM, 9, "self_harm")
    assert (alert.response, alert.episode, alert.state) == (response, practice.own, "raised")
    assert response.critical is True


def test_no_alert_without_a_critical_item(practice: Practice, phq9: Administration) -> None:
    do_record_response(phq9, PHQ9_MILD, idempotency_key="k1")
    assert not Alert.objects.exists()


def test_a_repeated_idempotency_key_returns_the_stored_response(
    practice: Practice, phq9: Administration
) -> None:
    first = do_record_response(phq9, PHQ9_ITEM9, idempotency_key="k1")
    again = do_record_response(phq9, PHQ9_ITEM9, idempotency_key="k1")
    assert again == first
    assert Response.objects.count() == 1
    assert Alert.objects.count() == 1


def test_a_key_reused_for_other_answers_is_refused(
    practice: Practice, phq9: Administration
) -> None:
    do_record_response(phq9, PHQ9_MILD, idempotency_key="k1")
    with pytest.raises(IdempotencyConflictError):
        do_record_response(phq9, PHQ9_ITEM9, idempotency_key="k1")


def test_a_second_submission_to_a_completed_administration_is_refused(
    practice: Practice, phq9: Administration
) -> None:
    do_record_response(phq9, PHQ9_MILD, idempotency_key="k1")
    with pytest.raises(AdministrationClosedError, match="already been answered"):
        do_record_response(phq9, PHQ9_MILD, idempotency_key="k2")
    assert Response.objects.count() == 1


def test_an_expired_administration_is_refused(practice: Practice, phq9: Administration) -> None:
    do_expire_administration(phq9)
    with pytest.raises(AdministrationClosedError, match="expired"):
        do_record_response(phq9, PHQ9_MILD, idempotency_key="k1")
    assert not Response.objects.exists()


def test_an_administration_past_its_deadline_is_refused(practice: Practice) -> None:
    late = do_create_administration(
        practice.own, "phq9", expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    with pytest.raises(AdministrationClosedError, match="expired"):
        do_record_response(late, PHQ9_MILD, idempotency_key="k1")


def test_invalid_answers_name_their_items_and_store_nothing(
    practice: Practice, phq9: Administration
) -> None:
    answers = [*PHQ9_MILD[:2], 7, *PHQ9_MILD[3:]]
    with pytest.raises(InvalidAnswersError, match="item 3") as caught:
        do_record_response(phq9, answers, idempotency_key="k1")
    assert caught.value.items == (3,)
    phq9.refresh_from_db()
    assert phq9.status == AdministrationStatus.CREATED
    assert not Response.objects.exists()
    assert not Alert.objects.exists()


def test_answers_entered_by_a_member_record_who_entered_them(
    practice: Practice, phq9: Administration
) -> None:
    response = do_record_response(phq9, PHQ9_MILD, idempotency_key="k1", actor=practice.clinician)
    assert response.entered_by == practice.clinician


def test_a_researcher_cannot_enter_answers(practice: Practice, phq9: Administration) -> None:
    with pytest.raises(PermissionDenied):
        do_record_response(phq9, PHQ9_MILD, idempotency_key="k1", actor=practice.researcher)
    assert not Response.objects.exists()


def test_an_amendment_is_rescored_and_raises_a_new_critical_alert(
    practice: Practice, phq9: Administration
) -> None:
    response = do_record_response(phq9, PHQ9_MILD, idempotency_key="k1")
    amendment = do_amend_response(response, PHQ9_ITEM9, "Item 9 was misread", practice.clinician)
    expected = score(load_library().get("phq9"), PHQ9_ITEM9)
    assert (amendment.total, amendment.critical) == (expected.total, True)
    assert (amendment.amended_by, amendment.reason) == (practice.clinician, "Item 9 was misread")
    alert = Alert.objects.get()
    assert (alert.response, alert.amendment) == (response, amendment)
    response.refresh_from_db()
    assert response.total == 7


@pytest.mark.parametrize(
    ("answers", "reason", "message"),
    [(PHQ9_ITEM9, "  ", "reason"), (PHQ9_MILD, "Typo", "already in force")],
)
def test_an_amendment_without_reason_or_change_is_refused(
    practice: Practice, phq9: Administration, answers: list[int], reason: str, message: str
) -> None:
    response = do_record_response(phq9, PHQ9_MILD, idempotency_key="k1")
    with pytest.raises(AmendmentRefusedError, match=message):
        do_amend_response(response, answers, reason, practice.clinician)
    assert not Amendment.objects.exists()


def test_an_amendment_out_of_scope_is_not_found(practice: Practice) -> None:
    from django.http import Http404

    administration = do_create_administration(practice.other, "phq9")
    response = do_record_response(administration, PHQ9_MILD, idempotency_key="k1")
    with pytest.raises(Http404):
        do_amend_response(response, PHQ9_ITEM9, "Misread", practice.clinician)


def test_an_administration_stores_the_measure_version_of_the_library(practice: Practice) -> None:
    administration = do_create_administration(practice.own, "gad7")
    assert administration.measure_version == load_library().get("gad7").version
    assert len(administration.link_token) >= 40


@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_to_one_administration_store_one_response(
    practice: Practice,
) -> None:
    """Four submissions at once, two with one key (a retry) and two with others: one response,
    the retry replays it, the others are told the questionnaire is answered."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's in-memory test database cannot take concurrent writers")
    administration = do_create_administration(practice.own, "phq9")
    start = threading.Barrier(4)

    def submit(key: str) -> str:
        try:
            start.wait()
            copy = Administration.objects.get(pk=administration.pk)
            stored = do_record_response(copy, PHQ9_MILD, idempotency_key=key)
            return f"stored {stored.idempotency_key}"
        except AdministrationClosedError:
            return "answered"
        finally:
            connections.close_all()

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(submit, ["a", "a", "b", "c"]))
    [response] = Response.objects.filter(administration=administration)
    winner = response.idempotency_key
    assert outcomes.count(f"stored {winner}") == (2 if winner == "a" else 1)
    assert outcomes.count("answered") == 4 - outcomes.count(f"stored {winner}")
    assert AuditEntry.objects.filter(action="response.recorded").count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_answer_with_an_alert_and_one_without_for_one_episode_do_not_deadlock(
    practice: Practice, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every answer takes its locks in one order (administration, episode, audit chain): an
    answer raising an alert while another of the same episode is stored both stand."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite takes one writer at a time: no two answers hold locks at once")
    critical = do_create_administration(practice.own, "phq9")
    plain = do_create_administration(practice.own, "gad7")
    refresh_episode = actions.refresh_episode
    who = threading.local()

    def widened(episode: Any, now: Any) -> Any:
        # Only the window is wider; the order of the locks is the code's own.
        if who.name == "critical":
            time.sleep(0.4)
        done = refresh_episode(episode, now)
        if who.name == "plain":
            time.sleep(0.4)
        return done

    monkeypatch.setattr(actions, "refresh_episode", widened)

    def submit(name: str, administration: Administration, answers: list[int]) -> str:
        who.name = name
        try:
            copy = Administration.objects.get(pk=administration.pk)
            do_record_response(copy, answers, idempotency_key=name)
            return "stored"
        except Exception as exc:
            return type(exc).__name__
        finally:
            connections.close_all()

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(submit, "critical", critical, PHQ9_ITEM9)
        time.sleep(0.1)
        second = pool.submit(submit, "plain", plain, [1] * 7)
        assert (first.result(), second.result()) == ("stored", "stored")
    assert Alert.objects.filter(response__administration=critical).exists()


@pytest.mark.django_db(transaction=True)
def test_two_answers_of_one_episode_at_once_both_reach_its_results(practice: Practice) -> None:
    """The second answer's refresh waits for the first's and reads it: none is left out."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite takes one writer at a time: the answers cannot overlap")
    sessions = [
        Session.objects.create(
            organisation=practice.org,
            episode=practice.own,
            number=n,
            scheduled_at=timezone.now() - dt.timedelta(days=10 - n),
        )
        for n in (1, 2)
    ]
    forms = [do_create_administration(practice.own, "phq9", session=s) for s in sessions]

    def submit(index: int) -> str:
        try:
            copy = Administration.objects.get(pk=forms[index].pk)
            do_record_response(copy, PHQ9_MILD, idempotency_key=f"both-{index}")
            return "stored"
        except Exception as exc:
            return type(exc).__name__
        finally:
            connections.close_all()

    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(submit, [0, 1])) == ["stored", "stored"]
    stored = SessionFeedback.objects.filter(episode=practice.own, measure_id="phq9")
    assert sorted(stored.values_list("session_number", flat=True)) == [1, 2]


def test_a_database_error_in_the_answers_transaction_is_not_called_answered(
    practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a used key counts as 'sent before'; any other failure is an error and nothing
    stands, so the client can send again."""
    administration = do_create_administration(practice.own, "phq9")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise IntegrityError("the audit chain refused the entry")

    monkeypatch.setattr(actions.audit, "record", broken)
    with pytest.raises(IntegrityError):
        do_record_response(administration, PHQ9_MILD, idempotency_key="audit-down")
    administration.refresh_from_db()
    assert administration.status != AdministrationStatus.COMPLETED
    assert not Response.objects.filter(idempotency_key="audit-down").exists()
