"""Each episode's results under the practice model: stored with every answer, rating, amendment
and ending, and equal to `ally analyze --model` on an export of the same answers."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from batch_results import SESSION_FIELDS, assert_stored_equals_batch, batch, same
from django.db import connection
from django.test import Client
from django.utils import timezone
from web_practice import Practice, sign_in

from ally.feedback.practice import PracticeModel
from ally.web.actions.answers import (
    do_amend_response,
    do_create_administration,
    do_record_response,
)
from ally.web.actions.monitoring import do_fit_practice_model
from ally.web.actions.practice import do_end_episode
from ally.web.alerts.models import FEEDBACK_KINDS, Alert, AlertKind
from ally.web.auditlog.models import AuditEntry
from ally.web.collect.models import Respondent, Response
from ally.web.monitoring import refresh
from ally.web.monitoring.models import EpisodeFeedback, PracticeModelFit, SessionFeedback
from ally.web.practice.models import EndReason, Episode, Session

# A worsening PHQ-9 course (10 -> 19): reliably worse by session 3, a red signal.
PHQ9_COURSE = [
    [1, 1, 1, 1, 1, 1, 1, 2, 1],
    [2, 2, 1, 2, 1, 2, 2, 1, 1],
    [2, 2, 2, 2, 2, 2, 2, 2, 3],
]
# The alliance check-in falls by more than 15% at session 3: a rupture (Strauss et al. 2006).
ALLIANCE_COURSE = [[3, 3, 3, 3, 3, 3, 3], [3, 3, 3, 3, 3, 3, 3], [2, 1, 2, 2, 1, 2, 2]]
NOW = timezone.make_aware(dt.datetime(2026, 3, 2, 12))


def answer(episode: Episode, course: dict[str, list[list[int]]], start: int = 1) -> None:
    """Each measure's answers, one session after another, as clients send them."""
    for offset in range(len(next(iter(course.values())))):
        number = start + offset
        session = Session.objects.create(
            organisation=episode.organisation,
            episode=episode,
            number=number,
            scheduled_at=NOW - dt.timedelta(days=30 - 7 * number),
        )
        for measure, answers in course.items():
            administration = do_create_administration(episode, measure, session=session)
            do_record_response(
                administration,
                answers[offset],
                idempotency_key=f"{episode.pk}-{measure}-{number}",
                now=NOW,
            )


@pytest.fixture
def answered(practice: Practice) -> Episode:
    answer(practice.own, {"phq9": PHQ9_COURSE, "ally-alliance": ALLIANCE_COURSE})
    return practice.own


# --- After every answer ----------------------------------------------------------------------


def test_each_answer_stores_its_episodes_results_at_once(answered: Episode) -> None:
    phq9 = SessionFeedback.objects.get(episode=answered, measure_id="phq9", session_number=3)
    # 10 -> 19: 9 points worse, beyond PHQ-9's published reliable change of 6 (NHS Talking
    # Therapies): reliably worse, and a red signal.
    assert (phq9.score, phq9.baseline, phq9.change) == (19.0, 10.0, 9.0)
    assert phq9.reliable_change == "deteriorated"
    assert phq9.rci == pytest.approx(9 / (6 / 1.959963984540054))
    assert phq9.signal == "red"
    assert phq9.expected is not None
    assert SessionFeedback.objects.get(
        episode=answered, measure_id="ally-alliance", session_number=3
    ).rupture
    course = EpisodeFeedback.objects.get(episode=answered, measure_id="phq9")
    assert (course.first_score, course.last_score, course.reliable_change) == (
        10.0,
        19.0,
        "deteriorated",
    )


def test_every_stored_number_equals_ally_analyze_with_the_practice_model(
    practice: Practice, answered: Episode, tmp_path: Path
) -> None:
    answer(practice.shared, {"phq9": PHQ9_COURSE[::-1]})
    assert assert_stored_equals_batch(practice.org, tmp_path / "answers") > 100
    # After a clinician's rating, a correction and an ending, still the batch's numbers.
    session = answered.sessions.get(number=2)
    rating = do_create_administration(
        answered, "ally-alliance", session=session, respondent=Respondent.CLINICIAN
    )
    do_record_response(rating, [2] * 7, idempotency_key="rating", actor=practice.clinician)
    response = answered.administrations.get(measure_id="phq9", session__number=2).response
    do_amend_response(response, [3] * 9, "entered from the paper form", practice.clinician)
    do_end_episode(answered, dt.date(2026, 3, 1), EndReason.PLANNED, actor=practice.clinician)
    assert assert_stored_equals_batch(practice.org, tmp_path / "later") > 100


def test_an_episode_alone_gives_the_numbers_it_has_among_the_others(
    practice: Practice, answered: Episode, tmp_path: Path
) -> None:
    answer(practice.shared, {"phq9": PHQ9_COURSE[::-1], "ally-alliance": ALLIANCE_COURSE})
    alone, _ = batch(practice.org, [answered], tmp_path / "alone")
    together, _ = batch(practice.org, [answered, practice.shared], tmp_path / "together")
    for key, row in alone.items():
        other = together[key]
        for name in SESSION_FIELDS.values():
            assert same(getattr(row, name), getattr(other, name)), name


def test_red_signal_and_rupture_raise_one_alert_each_however_often_refreshed(
    answered: Episode,
) -> None:
    for _ in range(2):
        refresh.refresh_episode(answered)
    feedback_alerts = Alert.objects.filter(episode=answered, kind__in=FEEDBACK_KINDS)
    assert sorted(feedback_alerts.values_list("kind", "source_key")) == [
        (AlertKind.RUPTURE, "ally-alliance:client:3"),
        (AlertKind.SIGNAL_RED, "phq9:client:3"),
    ]


def test_feedback_alerts_keep_what_they_are_about_and_name_measures_as_clinicians_do(
    answered: Episode,
) -> None:
    refresh.refresh_episode(answered)
    red = Alert.objects.get(episode=answered, kind=AlertKind.SIGNAL_RED)
    assert red.details == {"measure": "phq9", "session": 3}
    assert red.message == red.text
    assert red.message.startswith("PHQ-9: the score at session 3 is off the expected course")
    rupture = Alert.objects.get(episode=answered, kind=AlertKind.RUPTURE)
    assert rupture.details["measure"] == "ally-alliance"
    assert "phq9" not in red.text
    assert "ally-alliance" not in rupture.text


def test_an_alert_text_is_written_in_the_readers_language(answered: Episode) -> None:
    from django.utils import translation

    from ally.web.alerts.texts import alert_text

    refresh.refresh_episode(answered)
    red = Alert.objects.get(episode=answered, kind=AlertKind.SIGNAL_RED)
    rupture = {"measure": "ally-alliance", "session": 3, "subscale": "bond"}
    with translation.override("de"):
        assert red.text.startswith("PHQ-9: Der Wert in Sitzung 3")
        assert "„Bindung“" in alert_text(AlertKind.RUPTURE, rupture)
        assert "13 %" in alert_text(AlertKind.DROPOUT_RISK, {"session": 4, "risk": 0.127})
    # The English stored with it stays, for the audit trail and the API.
    assert red.message.startswith("PHQ-9: the score at session 3")
    assert "“Bond”" in alert_text(AlertKind.RUPTURE, rupture)


def test_a_german_clinician_reads_the_alert_in_german_on_the_client_page(
    practice: Practice, answered: Episode
) -> None:
    from django.conf import settings

    refresh.refresh_episode(answered)
    client = Client()
    sign_in(client, practice.clinician.user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "de"
    html = client.get(f"/o/{practice.org.slug}/episodes/{answered.pk}/").content.decode()
    assert "PHQ-9: Der Wert in Sitzung 3 liegt außerhalb des erwarteten" in html
    assert "is off the expected course" not in html


def test_an_alert_raised_before_its_details_were_kept_shows_its_message(
    answered: Episode,
) -> None:
    old = Alert.objects.create(
        episode=answered,
        kind=AlertKind.SIGNAL_RED,
        source_key="phq9:client:2",
        message="PHQ-9: off track at session 2.",
        raised_at=timezone.now(),
    )
    assert old.text == "PHQ-9: off track at session 2."


def test_an_open_alert_is_not_repeated_at_the_next_session(answered: Episode) -> None:
    answer(answered, {"phq9": [[3, 3, 2, 2, 2, 2, 2, 2, 2]]}, start=4)
    assert Alert.objects.filter(episode=answered, kind=AlertKind.SIGNAL_RED).count() == 1


def test_an_amendment_brings_the_results_up_to_date(practice: Practice, answered: Episode) -> None:
    response = answered.administrations.get(measure_id="phq9", session__number=1).response
    do_amend_response(response, [0] * 9, "typed in the wrong column", practice.clinician)
    first = SessionFeedback.objects.get(episode=answered, measure_id="phq9", session_number=1)
    assert first.score == 0.0
    last = SessionFeedback.objects.get(episode=answered, measure_id="phq9", session_number=3)
    assert (last.baseline, last.change) == (0.0, 19.0)


def test_an_ending_brings_the_outcome_category_and_closes_open_ruptures(
    practice: Practice, answered: Episode
) -> None:
    course = EpisodeFeedback.objects.get(episode=answered, measure_id="ally-alliance")
    assert course.unrepaired == 0  # open: it may still be repaired
    do_end_episode(answered, dt.date(2026, 3, 1), EndReason.DROPOUT, actor=practice.clinician)
    course = EpisodeFeedback.objects.get(episode=answered, measure_id="ally-alliance")
    assert (course.ruptures, course.unrepaired) == (1, 1)
    outcome = EpisodeFeedback.objects.get(episode=answered, measure_id="phq9")
    # Caseness at intake (10 is clinical on the PHQ-9), reliably worse: deteriorated.
    assert outcome.category == "deteriorated"


def test_a_clinicians_rating_is_compared_with_the_clients(
    practice: Practice, answered: Episode
) -> None:
    session = answered.sessions.get(number=1)
    administration = do_create_administration(
        answered, "ally-alliance", session=session, respondent=Respondent.CLINICIAN
    )
    do_record_response(administration, [3] * 7, idempotency_key="clin-1", actor=practice.clinician)
    client_rating = SessionFeedback.objects.get(
        episode=answered, measure_id="ally-alliance", rater="client", session_number=1
    )
    assert client_rating.discrepancy == 0.0
    assert SessionFeedback.objects.filter(episode=answered, rater="clinician").count() == 1


def test_an_administration_without_a_session_has_no_results(practice: Practice) -> None:
    administration = do_create_administration(practice.own, "phq9")
    do_record_response(administration, [1] * 9, idempotency_key="loose")
    assert Response.objects.filter(administration=administration).exists()
    assert not SessionFeedback.objects.filter(episode=practice.own).exists()


def test_a_fault_in_the_results_keeps_the_answer_and_its_critical_alert(
    practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("a fault that quotes 17 as an answer")

    logged: list[str] = []
    monkeypatch.setattr(refresh, "results", broken)
    monkeypatch.setattr(refresh.log, "warning", lambda text, *args: logged.append(text % args))
    session = Session.objects.create(
        organisation=practice.org, episode=practice.own, number=1, scheduled_at=NOW
    )
    administration = do_create_administration(practice.own, "phq9", session=session)
    do_record_response(administration, [1, 1, 1, 1, 1, 0, 1, 1, 2], idempotency_key="k", now=NOW)
    assert Response.objects.filter(administration=administration).exists()
    assert Alert.objects.filter(episode=practice.own, kind=AlertKind.CRITICAL_ITEM).exists()
    [said] = logged
    assert "not refreshed (ZeroDivisionError)" in said
    assert "17" not in said


# --- The practice model ----------------------------------------------------------------------


def test_before_its_first_fit_a_practice_uses_the_published_values(answered: Episode) -> None:
    model, fit = refresh.model_for(answered.organisation_id)
    assert fit is None
    assert model.training.episodes == 0
    assert (
        model.measures["phq9"]
        .raters["client"]
        .source.startswith("published reliable change of 6 points")
    )


def test_a_fit_is_kept_applied_to_every_episode_and_audited(
    practice: Practice, answered: Episode, tmp_path: Path
) -> None:
    fit = do_fit_practice_model(practice.org, now=NOW, actor=practice.admin)
    assert (fit.episodes, fit.administrations, fit.fitted_by) == (1, 6, practice.admin)
    model = PracticeModel.from_json(fit.model_json)
    assert model.training.fitted_at == NOW.isoformat(timespec="seconds")
    assert refresh.model_for(practice.org.pk)[1] == fit
    assert AuditEntry.objects.filter(action="practice_model.fitted").count() == 1
    assert assert_stored_equals_batch(practice.org, tmp_path) > 0


def test_the_scheduled_command_fits_every_practice(practice: Practice, answered: Episode) -> None:
    from django.core.management import call_command

    call_command("fit_practice", "north", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert PracticeModelFit.objects.filter(organisation=practice.org).count() == 1
    assert not PracticeModelFit.objects.exclude(organisation=practice.org).exists()


def test_a_new_practice_without_answers_can_be_fitted(practice: Practice) -> None:
    fit = do_fit_practice_model(practice.org, now=NOW)
    assert (fit.episodes, fit.administrations) == (0, 0)
    assert not SessionFeedback.objects.exists()


def test_the_model_page_gives_the_sudden_gain_cut_off_of_each_measure(
    practice: Practice, answered: Episode
) -> None:
    do_fit_practice_model(practice.org, now=NOW)
    client = Client()
    sign_in(client, practice.clinician.user)
    html = client.get(f"/o/{practice.org.slug}/model/").content.decode()
    assert "a sudden gain or loss is a change of at least 6 points between sessions" in html


def test_fit_now_fits_once_and_a_second_press_while_it_runs_starts_nothing(
    practice: Practice, answered: Episode
) -> None:
    from ally.web.actions.monitoring import do_request_fit
    from ally.web.monitoring.models import FitRequest

    request, started = do_request_fit(practice.org, practice.admin, now=NOW)
    assert started
    assert request.outcome == FitRequest.Outcome.FITTED
    assert request.fit == refresh.model_for(practice.org.pk)[1]
    assert AuditEntry.objects.filter(action="practice_model.fit_requested").count() == 1
    # A fit still running (e.g. in another server process) is not started twice.
    running = FitRequest.objects.create(
        organisation=practice.org, requested_by=practice.admin, requested_at=timezone.now()
    )
    again, started = do_request_fit(practice.org, practice.admin)
    assert (again, started) == (running, False)
    assert PracticeModelFit.objects.filter(organisation=practice.org).count() == 1


def test_a_fit_cut_off_hours_ago_does_not_block_the_next(
    practice: Practice, answered: Episode
) -> None:
    from ally.web.actions.monitoring import do_request_fit
    from ally.web.monitoring.models import FitRequest

    FitRequest.objects.create(
        organisation=practice.org,
        requested_by=practice.admin,
        requested_at=timezone.now() - dt.timedelta(hours=3),
    )
    _, started = do_request_fit(practice.org, practice.admin)
    assert started


def test_the_model_page_says_a_fit_is_running_and_hides_the_button(
    practice: Practice, answered: Episode
) -> None:
    from ally.web.monitoring.models import FitRequest

    FitRequest.objects.create(
        organisation=practice.org, requested_by=practice.admin, requested_at=timezone.now()
    )
    client = Client()
    sign_in(client, practice.admin.user)
    html = client.get(f"/o/{practice.org.slug}/model/").content.decode()
    assert "has been running since" in html
    assert "Fit now on all answers" not in html


def test_a_failed_fit_says_so_and_keeps_the_model_in_use(
    practice: Practice, answered: Episode, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ally.web.actions import monitoring
    from ally.web.monitoring.models import FitRequest

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ValueError("no spread")

    monkeypatch.setattr(monitoring, "do_fit_practice_model", broken)
    request, _ = monitoring.do_request_fit(practice.org, practice.admin)
    assert request.outcome == FitRequest.Outcome.FAILED
    client = Client()
    sign_in(client, practice.admin.user)
    html = client.get(f"/o/{practice.org.slug}/model/").content.decode()
    assert "failed, and the model above stays in use" in html
    assert "Fit now on all answers" in html


@pytest.mark.django_db(transaction=True)
def test_fit_now_runs_in_the_background_and_the_request_returns_at_once(
    settings: Any,
) -> None:
    from web_practice import build_practice

    from ally.web.actions.monitoring import do_request_fit
    from ally.web.monitoring.models import FitRequest

    settings.ALLY_FIT_IN_BACKGROUND = True
    practice = build_practice()
    request, started = do_request_fit(practice.org, practice.admin)
    assert started
    thread = next(t for t in __import__("threading").enumerate() if t.name == "ally-fit")
    thread.join(timeout=60)
    request.refresh_from_db()
    assert request.outcome == FitRequest.Outcome.FITTED
    assert request.finished_at is not None


# --- What the web process loads ---------------------------------------------------------------


@pytest.mark.skipif(connection.vendor != "sqlite", reason="runs its own SQLite database")
def test_a_submission_and_a_client_page_load_no_query_engine(tmp_path: Path) -> None:
    """The web process answers and shows results without ibis, DuckDB, pyarrow or pandas."""
    script = textwrap.dedent(
        f"""
        import os, sys
        os.environ["ALLY_DATA_DIR"] = {str(tmp_path)!r}
        os.environ["DJANGO_SETTINGS_MODULE"] = "ally.web.settings"
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import django
        django.setup()
        from django.conf import settings
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
        settings.SECURE_SSL_REDIRECT = False
        settings.ALLOWED_HOSTS = ["testserver"]
        from django.core.management import call_command
        call_command("migrate", verbosity=0)
        from django.test import Client
        from django.urls import reverse
        from web_practice import build_practice, sign_in
        from ally.web.actions.answers import do_create_administration, do_record_response
        from ally.web.practice.models import Session
        from django.utils import timezone
        practice = build_practice()
        session = Session.objects.create(
            organisation=practice.org, episode=practice.own, number=1,
            scheduled_at=timezone.now(),
        )
        administration = do_create_administration(practice.own, "phq9", session=session)
        do_record_response(administration, [1] * 9, idempotency_key="one")
        client = Client()
        sign_in(client, practice.clinician.user)
        page = client.get(reverse("clinic:episode", args=["north", practice.own.pk]))
        assert page.status_code == 200, page.status_code
        loaded = [m for m in ("ibis", "duckdb", "pyarrow", "pandas") if m in sys.modules]
        print("LOADED", loaded)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "LOADED []" in done.stdout, done.stdout


def test_the_api_gives_the_reliable_change_index_right_after_an_answer(
    client: Client, practice: Practice
) -> None:
    sign_in(client, practice.clinician.user)
    for number, answers in enumerate(PHQ9_COURSE, start=1):
        session = Session.objects.create(
            organisation=practice.org, episode=practice.own, number=number, scheduled_at=NOW
        )
        administration = do_create_administration(practice.own, "phq9", session=session)
        url = f"/api/o/north/administrations/{administration.pk}/responses"
        sent = client.post(
            url,
            data=json.dumps({"answers": dict(enumerate(answers, start=1))}),
            content_type="application/json",
            headers={"Idempotency-Key": f"api-{number}"},
        )
        assert sent.status_code in (200, 201), sent.content
    feedback = client.get(f"/api/o/north/episodes/{practice.own.pk}/feedback").json()
    rows = [r for r in feedback["sessions"] if r["measure_id"] == "phq9"]
    assert [r["session_number"] for r in rows] == [1, 2, 3]
    assert all(r["rci"] is not None for r in rows)
    assert rows[-1]["reliable_change"] == "deteriorated"


def test_a_practices_answers_export_for_ally_analyze_with_its_model(
    practice: Practice, answered: Episode, tmp_path: Path
) -> None:
    from django.core.management import call_command

    out, model = tmp_path / "answers.csv", tmp_path / "model.json"
    call_command("export_answers", "north", out=out, model_out=model, stdout=io.StringIO())
    with out.open() as source:
        rows = list(csv.DictReader(source))
    assert len(rows) == 6
    # Numeric keys only: no client code, name or note leaves the database.
    assert {r["client"] for r in rows} == {str(answered.client_id)}
    assert "N-001" not in out.read_text()
    assert PracticeModel.from_json(model.read_text()).training.episodes == 0
    assert AuditEntry.objects.filter(action="answers.exported").count() == 1


def test_a_new_answer_writes_its_own_row_and_its_summary_not_the_episodes_every_row(
    answered: Episode,
) -> None:
    before = dict(SessionFeedback.objects.filter(episode=answered).values_list("pk", "computed_at"))
    later = NOW + dt.timedelta(days=7)
    session = Session.objects.create(
        organisation=answered.organisation, episode=answered, number=4, scheduled_at=later
    )
    administration = do_create_administration(answered, "phq9", session=session)
    do_record_response(administration, [1] * 9, idempotency_key="fourth", now=later)
    after = dict(SessionFeedback.objects.filter(episode=answered).values_list("pk", "computed_at"))
    # Earlier sessions' results do not depend on later ones: their rows stay as they were.
    assert {pk: at for pk, at in after.items() if pk in before} == before
    assert [at for pk, at in after.items() if pk not in before] == [later]
    phq9 = EpisodeFeedback.objects.get(episode=answered, measure_id="phq9")
    assert (phq9.last_session, phq9.computed_at) == (4, later)


def test_alerts_name_measures_as_clinicians_know_them_and_list_the_critical_first(
    client: Client, practice: Practice, answered: Episode
) -> None:
    messages = dict(
        Alert.objects.filter(episode=answered, kind__in=FEEDBACK_KINDS).values_list(
            "kind", "message"
        )
    )
    assert messages[AlertKind.SIGNAL_RED].startswith("PHQ-9: the score at session 3")
    assert "phq9" not in messages[AlertKind.SIGNAL_RED]
    assert "ally-alliance" not in messages[AlertKind.RUPTURE]
    # A critical item answered after the signals still comes first.
    session = Session.objects.create(
        organisation=practice.org, episode=answered, number=4, scheduled_at=NOW
    )
    administration = do_create_administration(answered, "phq9", session=session)
    do_record_response(administration, [1, 1, 1, 1, 1, 0, 1, 1, 2], idempotency_key="k9", now=NOW)
    sign_in(client, practice.clinician.user)
    kinds = [a["kind"] for a in client.get("/api/o/north/alerts").json()["items"]]
    assert kinds[0] == AlertKind.CRITICAL_ITEM
    assert kinds.index(AlertKind.SIGNAL_RED) < kinds.index(AlertKind.RUPTURE)
    page = client.get("/o/north/alerts/").content.decode()
    assert page.index("Critical item") < page.index("PHQ-9: the score at session 3")
