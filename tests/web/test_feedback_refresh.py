"""The app's feedback is the batch engine's: the same answers give the same numbers."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, connections, transaction
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from web_practice import PHQ9_ITEM9, Practice, sign_in

from ally.engine.analyze import analyze
from ally.engine.options import Options
from ally.web.alerts.models import FEEDBACK_KINDS, Alert, AlertKind
from ally.web.auditlog.models import AuditEntry
from ally.web.clinic import charts
from ally.web.clinic.refreshing import refresh_episode
from ally.web.collect.actions import (
    do_amend_response,
    do_create_administration,
    do_record_response,
)
from ally.web.collect.models import Administration, AdministrationStatus, Respondent, Response
from ally.web.feedback import refresh, worker
from ally.web.feedback.apps import check_refresh_mode
from ally.web.feedback.models import (
    ChartDrawing,
    EpisodeFeedback,
    PendingRefresh,
    SessionFeedback,
)
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


# --- The refresh queue (ALLY_FEEDBACK_REFRESH = "background") -----------------------------------


@pytest.fixture
def background(settings: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Background mode, with the worker run by the test instead of a thread of its own."""
    settings.ALLY_FEEDBACK_REFRESH = worker.BACKGROUND
    started: list[int] = []
    monkeypatch.setattr(worker, "start_in_background", lambda: started.append(1))
    return started


@pytest.fixture
def signed_in_api(client: Client, practice: Practice) -> Client:
    sign_in(client, practice.clinician.user)
    return client


def _course(episode: Episode) -> None:
    _answer(episode, {"phq9": PHQ9_COURSE, "ally-alliance": ALLIANCE_COURSE})


def _feedback(episode: Episode) -> list[tuple[Any, ...]]:
    rows = SessionFeedback.objects.filter(episode=episode).order_by("measure_id", "session_number")
    return list(rows.values_list("measure_id", "session_number", "score", "signal", "rupture"))


def _alerts(episode: Episode) -> list[tuple[str, str, str]]:
    rows = Alert.objects.filter(episode=episode).order_by("kind", "source_key", "item")
    return list(rows.values_list("kind", "source_key", "message"))


def test_an_answer_in_background_mode_queues_its_episode_once_and_runs_no_engine(
    practice: Practice, background: list[int]
) -> None:
    _course(practice.own)  # six answers, each asking in its own transaction
    for _ in range(3):
        refresh.queue_refresh(practice.own.pk)
        assert refresh.refresh_after_answer(practice.own.pk), "nothing more to do after it"
    [pending] = PendingRefresh.objects.all()
    assert pending.episode_id == practice.own.pk
    assert pending.due_at <= timezone.now()
    assert not SessionFeedback.objects.exists()
    assert background, "the answer starts this process's worker thread"


def test_the_worker_gives_the_feedback_and_alerts_an_inline_refresh_gives(
    practice: Practice, background: list[int], settings: Any
) -> None:
    queued, inline = practice.own, practice.other
    _course(queued)
    _course(inline)
    PendingRefresh.objects.filter(episode=inline).delete()  # refreshed inline below instead
    drained = worker.drain()
    assert (drained.refreshed, drained.failed) == (1, 0)
    assert not PendingRefresh.objects.exists()

    settings.ALLY_FEEDBACK_REFRESH = worker.INLINE
    assert refresh.refresh_after_answer(inline.pk)
    assert not PendingRefresh.objects.exists()
    assert _feedback(queued) == _feedback(inline) != []
    kinds = {kind for kind, _, _ in _alerts(queued)}
    assert {AlertKind.SIGNAL_RED, AlertKind.RUPTURE} <= kinds
    assert _alerts(queued) == _alerts(inline)


def test_a_failing_refresh_keeps_the_answer_and_the_row_for_a_later_retry(
    signed_in_api: Client,
    practice: Practice,
    phq9: Administration,
    background: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(episodes: Any) -> None:
        raise RuntimeError("engine down")

    reply = signed_in_api.post(
        f"/api/o/north/administrations/{phq9.pk}/responses",
        data=json.dumps({"answers": dict(enumerate(PHQ9_ITEM9, start=1))}),
        content_type="application/json",
        headers={"Idempotency-Key": "k-1"},
    )
    assert reply.status_code == 201
    # The critical item reached the clinician with the answer, not with the refresh.
    assert Alert.objects.filter(episode=practice.own, kind=AlertKind.CRITICAL_ITEM).exists()

    monkeypatch.setattr(refresh, "refresh_feedback", broken)
    assert worker.drain() == worker.Drained(refreshed=0, failed=1)
    row = PendingRefresh.objects.get(episode=practice.own)
    assert row.attempts == 1
    assert row.due_at > timezone.now(), "a failed refresh is not retried at once"
    assert Response.objects.get().pk == reply.json()["id"]

    monkeypatch.undo()
    PendingRefresh.objects.update(due_at=timezone.now())
    assert worker.drain() == worker.Drained(refreshed=1, failed=0)
    assert not PendingRefresh.objects.exists()


def test_a_drain_with_its_time_up_takes_no_new_episode(
    practice: Practice, background: list[int]
) -> None:
    worker.enqueue(practice.own.pk)
    assert worker.drain(seconds=0) == worker.Drained(refreshed=0, failed=0)
    assert PendingRefresh.objects.filter(episode=practice.own).exists()


def test_retries_wait_longer_after_each_failure_up_to_an_hour() -> None:
    waits = [worker.retry_delay(n) for n in (1, 2, 3, 20)]
    assert waits == [
        dt.timedelta(seconds=30),
        dt.timedelta(seconds=60),
        dt.timedelta(seconds=120),
        dt.timedelta(hours=1),
    ]


def test_a_claimed_row_is_not_taken_again_until_its_lease_runs_out(
    practice: Practice, background: list[int]
) -> None:
    worker.enqueue(practice.own.pk)
    first = worker.claim()
    assert first is not None
    assert first.episode_id == practice.own.pk
    assert worker.claim() is None, "a second worker takes nothing while the first one runs"
    # The first worker died: after the lease the row is due again and nothing is lost.
    PendingRefresh.objects.update(due_at=timezone.now() - dt.timedelta(seconds=1))
    again = worker.claim()
    assert again is not None
    assert again.episode_id == practice.own.pk


def test_an_answer_that_comes_in_during_a_refresh_keeps_the_episode_queued(
    practice: Practice, background: list[int]
) -> None:
    _course(practice.own)
    worker.enqueue(practice.own.pk)
    row = worker.claim()
    assert row is not None
    worker.enqueue(practice.own.pk)  # the engine may already have read the answers
    assert worker.refresh_claimed(row)
    pending = PendingRefresh.objects.get(episode=practice.own)
    assert pending.due_at <= timezone.now()
    assert worker.drain().refreshed == 1
    assert not PendingRefresh.objects.exists()


def test_refresh_worker_once_drains_what_is_due(practice: Practice, background: list[int]) -> None:
    _course(practice.own)
    worker.enqueue(practice.own.pk)
    out = io.StringIO()
    call_command("refresh_worker", "--once", stdout=out)
    assert "1 episodes refreshed, 0 failed" in out.getvalue()
    assert SessionFeedback.objects.filter(episode=practice.own).exists()
    assert not PendingRefresh.objects.exists()


def test_the_clinics_own_refresh_runs_at_once_in_background_mode(
    practice: Practice, background: list[int]
) -> None:
    _course(practice.own)
    refresh_episode(RequestFactory().get("/"), practice.own)
    assert SessionFeedback.objects.filter(episode=practice.own).exists()
    assert not PendingRefresh.objects.exists()


def test_an_unknown_refresh_mode_fails_the_system_check_and_refreshes_in_background(
    settings: Any,
) -> None:
    settings.ALLY_FEEDBACK_REFRESH = "inlined"
    [error] = check_refresh_mode()
    assert error.id == "ally.feedback.E001"
    assert "inlined" in error.msg
    assert worker.mode() == worker.BACKGROUND
    settings.ALLY_FEEDBACK_REFRESH = "worker"
    assert check_refresh_mode() == []


def test_only_background_mode_starts_a_worker_thread_once_per_process(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[str] = []

    class Recorded:
        def __init__(self, *, target: Any, name: str, daemon: bool) -> None:
            self.name, self.daemon = name, daemon

        def start(self) -> None:
            started.append(self.name)

    monkeypatch.setattr(worker.threading, "Thread", Recorded)
    monkeypatch.setattr(worker, "_started_in", None)
    for mode in (worker.INLINE, worker.WORKER):
        settings.ALLY_FEEDBACK_REFRESH = mode
        worker.start_in_background()
    assert started == []
    settings.ALLY_FEEDBACK_REFRESH = worker.BACKGROUND
    worker.start_in_background()
    worker.start_in_background()
    assert started == ["ally-feedback-refresh"]


@pytest.mark.django_db(transaction=True)
def test_a_row_locked_by_one_worker_is_skipped_by_another_on_postgresql(
    practice: Practice, settings: Any
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite takes one writer at a time; there is no lock to skip")
    settings.ALLY_FEEDBACK_REFRESH = worker.WORKER
    worker.enqueue(practice.own.pk)
    worker.enqueue(practice.other.pk)
    holding, release = threading.Event(), threading.Event()

    def first_worker() -> None:
        try:
            with transaction.atomic():
                list(PendingRefresh.objects.select_for_update().filter(episode=practice.own))
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(first_worker)
        assert holding.wait(10)
        # Not blocked by the first worker's lock: the other episode is taken at once.
        taken = worker.claim()
        release.set()
        held.result()
    assert taken is not None
    assert taken.episode_id == practice.other.pk


def test_an_answer_whose_refresh_cannot_be_queued_is_not_stored(
    practice: Practice, background: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The queue row is written in the answer's transaction: both stand, or neither."""
    administration = do_create_administration(practice.own, "phq9")
    entries = AuditEntry.objects.count()

    def broken_queue(episode_id: int) -> None:
        raise DatabaseError("the queue's table is locked")

    monkeypatch.setattr(worker, "enqueue", broken_queue)  # queue_refresh's way in
    with pytest.raises(DatabaseError):
        do_record_response(administration, PHQ9_COURSE[0], idempotency_key="queue-down")
    administration.refresh_from_db()
    assert administration.status != AdministrationStatus.COMPLETED
    assert not Response.objects.filter(idempotency_key="queue-down").exists()
    assert AuditEntry.objects.count() == entries


def test_the_worker_draws_the_charts_so_the_first_view_draws_none(
    practice: Practice, background: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    _course(practice.own)
    worker.drain()
    names = set(ChartDrawing.objects.filter(episode=practice.own).values_list("name", flat=True))
    assert names == {"outcome-phq9", "alliance-ally-alliance"}

    def no_drawing(spec: dict, *args: object, **kwargs: object) -> str:
        raise AssertionError("the page drew a chart the worker had drawn")

    monkeypatch.setattr(charts.vlc, "vegalite_to_svg", no_drawing)
    browser = Client()
    sign_in(browser, practice.clinician.user)
    page = browser.get(reverse("clinic:episode", kwargs={"org": "north", "pk": practice.own.pk}))
    assert page.status_code == 200
    assert page.content.decode().count('<svg role="img"') == 2


def test_one_drain_runs_on_a_machine_at_a_time(settings: Any) -> None:
    """The server processes' threads take turns: while one's child drains, the others wait."""
    with worker.machine_turn() as first, worker.machine_turn() as second:
        assert (first, second) == (True, False)
    with worker.machine_turn() as again:
        assert again, "the turn is free once the drain ends"
