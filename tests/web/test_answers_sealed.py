"""A client's item answers are sealed under their data key, the scores stay plain (issue 19:
answers were stored in the clear). A copy of the database shows the scores, never what the
client answered item by item; erasing the client leaves nothing of either to read."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from web_practice import PHQ9_ITEM9, PHQ9_MILD, Practice, database_text

from ally.web.actions.answers import do_amend_response, do_create_administration, do_record_response
from ally.web.collect.models import Amendment, Response
from ally.web.collect.models.responses import opened_answers
from ally.web.privacy.keys import KeyUnavailableError, data_key_for
from ally.web.privacy.sealed import SealError

AS_STORED = {str(n): v for n, v in enumerate(PHQ9_ITEM9, start=1)}
CORRECTED = {str(n): v for n, v in enumerate(PHQ9_MILD, start=1)}


def _recorded(practice: Practice, key: str = "sealed-1") -> Response:
    form = do_create_administration(practice.own, "phq9")
    return do_record_response(form, PHQ9_ITEM9, idempotency_key=key)


def _row(table: str, pk: int) -> dict[str, Any]:
    """The row as the database holds it, column by column."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [pk])
        names = [column[0] for column in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


def _plain_forms(answers: dict[str, Any]) -> list[str]:
    """How the answers would look stored as JSON, by Django on SQLite or PostgreSQL."""
    return [json.dumps(answers), json.dumps(answers, separators=(",", ":"))]


def test_the_item_answers_are_sealed_and_the_scores_stay_plain(practice: Practice) -> None:
    response = _recorded(practice)
    stored = _row("collect_response", response.pk)
    assert "answers" not in stored
    assert stored["total"] == 9
    assert stored["critical"] in (True, 1)
    text = database_text()
    for plain in _plain_forms(AS_STORED):
        assert plain not in text
    assert Response.objects.get(pk=response.pk).answers == AS_STORED


def test_a_correction_and_its_reason_are_sealed_too_and_the_first_answers_stay(
    practice: Practice,
) -> None:
    response = _recorded(practice)
    reason = "Mrs Featherstonehaugh ticked item 9 by mistake"
    amendment = do_amend_response(response, PHQ9_MILD, reason, practice.clinician)
    stored = _row("collect_amendment", amendment.pk)
    assert "answers" not in stored
    assert "reason" not in stored
    text = database_text()
    for plain in _plain_forms(CORRECTED):
        assert plain not in text
    assert "Featherstonehaugh" not in text
    assert Amendment.objects.get(pk=amendment.pk).answers == CORRECTED
    assert Amendment.objects.get(pk=amendment.pk).reason == reason
    assert Response.objects.get(pk=response.pk).current().answers == CORRECTED
    assert Response.objects.get(pk=response.pk).answers == AS_STORED


def test_answers_moved_to_another_response_do_not_open(practice: Practice) -> None:
    first = _recorded(practice)
    second = _recorded(practice, "sealed-2")
    key = data_key_for(practice.own.client_id)
    moved = bytes(Response.objects.get(pk=first.pk).sealed)
    with pytest.raises(SealError):
        opened_answers(moved, key, "collect_response", Response.place_of(second.administration_id))


def test_another_clients_key_does_not_open_the_answers(practice: Practice) -> None:
    response = _recorded(practice)
    do_record_response(
        do_create_administration(practice.shared, "phq9"), PHQ9_MILD, idempotency_key="other"
    )
    wrong = data_key_for(practice.shared.client_id)
    sealed = bytes(Response.objects.get(pk=response.pk).sealed)
    with pytest.raises(SealError):
        opened_answers(sealed, wrong, "collect_response", response.seal_place())


def test_stored_answers_cannot_be_set_again(practice: Practice) -> None:
    response = Response.objects.get(pk=_recorded(practice).pk)
    with pytest.raises(Exception, match="cannot be changed"):
        response.answers = CORRECTED


def test_new_data_keys_seal_the_answers_again(practice: Practice) -> None:
    response = _recorded(practice)
    amendment = do_amend_response(response, PHQ9_MILD, "Typed in wrongly.", practice.clinician)
    before = bytes(Response.objects.get(pk=response.pk).sealed)
    call_command("rotate_keys", "--data-keys", stdout=StringIO())
    assert bytes(Response.objects.get(pk=response.pk).sealed) != before
    assert Response.objects.get(pk=response.pk).answers == AS_STORED
    assert Amendment.objects.get(pk=amendment.pk).answers == CORRECTED
    assert Amendment.objects.get(pk=amendment.pk).reason == "Typed in wrongly."


def test_a_submission_reads_the_clients_key_once_whatever_its_number_of_answers(
    practice: Practice,
) -> None:
    """Sealing costs one statement per response, not one per answer."""
    counts = []
    for key, answers in (("all-nine", PHQ9_MILD), ("seven", [None, None, *PHQ9_MILD[2:]])):
        form = do_create_administration(practice.own, "phq9")
        with CaptureQueriesContext(connection) as done:
            do_record_response(form, answers, idempotency_key=key)
        keys = [q["sql"] for q in done.captured_queries if "privacy_clientkey" in q["sql"]]
        assert len(keys) == 1, keys
        counts.append(len(done.captured_queries))
    assert counts[0] == counts[1]


def test_an_erased_clients_answers_no_longer_open(practice: Practice) -> None:
    response = _recorded(practice)
    sealed = bytes(Response.objects.get(pk=response.pk).sealed)
    call_command("erase_client", "north", "N-001", "--no-input", stdout=StringIO())
    assert not Response.objects.filter(pk=response.pk).exists()
    assert sealed.decode("latin-1") not in database_text()
    with pytest.raises(KeyUnavailableError):
        data_key_for(practice.own.client_id)


@pytest.mark.django_db(transaction=True)
def test_answers_in_the_clear_are_sealed_by_the_migration_and_opened_going_back() -> None:
    from web_practice import build_practice

    practice = build_practice()
    response = _recorded(practice)
    amendment = do_amend_response(response, PHQ9_MILD, "Typed in wrongly.", practice.clinician)
    executor = MigrationExecutor(connection)
    executor.migrate([("collect", "0003_seal_alert_notes")])
    # As an older Ally kept them: in the clear, in the JSON column.
    assert json.loads(_row("collect_response", response.pk)["answers"]) == AS_STORED
    assert json.loads(_row("collect_amendment", amendment.pk)["answers"]) == CORRECTED
    assert _row("collect_amendment", amendment.pk)["reason"] == "Typed in wrongly."
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert "answers" not in _row("collect_response", response.pk)
    for plain in _plain_forms(AS_STORED) + _plain_forms(CORRECTED):
        assert plain not in database_text()
    assert Response.objects.get(pk=response.pk).answers == AS_STORED
    assert Amendment.objects.get(pk=amendment.pk).answers == CORRECTED
    assert Amendment.objects.get(pk=amendment.pk).reason == "Typed in wrongly."
    assert "Typed in wrongly" not in database_text()
