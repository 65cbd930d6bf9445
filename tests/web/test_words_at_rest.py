"""Free text that clients and members write is sealed at rest (issue 19): a group check-in's note
under the client's data key, a member's self-care answers and note under the server's master
key. Once a client is erased, neither their answers nor their words can be read from the
database: not from its rows, nor (on SQLite) from the raw bytes of its file."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from web_practice import PHQ9_ITEM9, PHQ9_MILD, Practice, build_practice, database_text

from ally.web.actions.answers import do_amend_response, do_create_administration, do_record_response
from ally.web.actions.goals import do_add_goal
from ally.web.actions.groups import (
    do_add_group_member,
    do_add_group_planned_measure,
    do_create_group,
    do_record_check_in_note,
    do_record_group_attendance,
    do_schedule_group_session,
)
from ally.web.actions.privacy import do_erase_client
from ally.web.actions.selfcare import do_check_in
from ally.web.collect.models import Administration, Amendment, Response
from ally.web.goals.models import GoalWording
from ally.web.groups.models import CheckInNote, MemberSession
from ally.web.privacy.keys import ENV, KeyRing, data_key_for, master_keys
from ally.web.privacy.models import ClientKey
from ally.web.privacy.sealed import SealError
from ally.web.selfcare.models import CheckIn

NOTE = "Too loud when Bartholomew shouts"
GOAL = "Sleep through Wednesdays without the nightmares"
SELF_CARE_NOTE = "Drained after the Kowalczyk family session"
REASON = "Item 9 ticked by mistake, says Philippa"
WORDS = (NOTE, "Bartholomew", GOAL, "nightmares", REASON, "Philippa")


def _group_note(practice: Practice) -> CheckInNote:
    p = practice
    group = do_create_group(p.org, "Tuesday group", [p.clinician], actor=p.clinician)
    do_add_group_planned_measure(group, "ally-group", timing="after", actor=p.clinician)
    do_add_group_member(group, p.own, dt.date(2026, 1, 20), actor=p.clinician)
    session = do_schedule_group_session(
        group, timezone.make_aware(dt.datetime(2026, 2, 3, 18, 0)), actor=p.clinician
    )
    do_record_group_attendance(session, {p.own.pk: True}, actor=p.clinician)
    part = MemberSession.objects.get(group_session=session, episode=p.own)
    form = part.session.administrations.get(measure_id="ally-group")
    do_record_response(
        form,
        [8, 8, 1, 1, 8, 8, 0],
        idempotency_key="group-1",
        now=part.session.scheduled_at + dt.timedelta(hours=1),
    )
    note = do_record_check_in_note(form, NOTE)
    assert note is not None
    return note


def _raw_database() -> bytes | None:
    """The bytes of the SQLite database as a file holds them, freed pages included; None on
    PostgreSQL, whose files belong to its server (its rows are searched instead)."""
    if connection.vendor != "sqlite":
        return None
    connection.ensure_connection()
    return bytes(connection.connection.serialize())


def test_a_group_check_in_note_is_sealed_under_the_clients_key(practice: Practice) -> None:
    note = _group_note(practice)
    assert "Bartholomew" not in database_text()
    assert CheckInNote.objects.get(pk=note.pk).text == NOTE
    another_clients = data_key_for(practice.shared.client_id, create=True)
    with pytest.raises(SealError):
        CheckInNote.objects.get(pk=note.pk).words(another_clients)


def test_new_data_keys_seal_the_check_in_notes_again(practice: Practice) -> None:
    note = _group_note(practice)
    before = bytes(CheckInNote.objects.get(pk=note.pk).sealed)
    call_command("rotate_keys", "--data-keys", stdout=StringIO())
    assert bytes(CheckInNote.objects.get(pk=note.pk).sealed) != before
    assert CheckInNote.objects.get(pk=note.pk).text == NOTE


def test_self_care_answers_and_note_are_sealed_and_read_by_the_member(practice: Practice) -> None:
    made = do_check_in(practice.clinician, [7, 3, 9, 1, 8, 2], note=SELF_CARE_NOTE)
    text = database_text()
    assert "Kowalczyk" not in text
    assert json.dumps([7, 3, 9, 1, 8, 2]) not in text
    assert "[7,3,9,1,8,2]" not in text
    stored = CheckIn.objects.get(pk=made.pk)
    assert (stored.answers, stored.note) == ([7, 3, 9, 1, 8, 2], SELF_CARE_NOTE)
    assert stored.master_version == master_keys().newest.version
    assert stored.total == made.total  # the scores stay plain for the practice's aggregate


def test_a_self_care_check_in_moved_to_another_member_does_not_open(practice: Practice) -> None:
    mine = do_check_in(practice.clinician, [7, 3, 9, 1, 8, 2], note=SELF_CARE_NOTE)
    theirs = do_check_in(practice.colleague, [1, 1, 1, 1, 1, 1])
    CheckIn.objects.filter(pk=theirs.pk).update(sealed=CheckIn.objects.get(pk=mine.pk).sealed)
    with pytest.raises(SealError):
        CheckIn.objects.get(pk=theirs.pk).note  # noqa: B018


def test_a_new_master_key_seals_the_self_care_check_ins_again(
    practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = do_check_in(practice.clinician, [7, 3, 9, 1, 8, 2], note=SELF_CARE_NOTE)
    old = master_keys().newest
    new = base64.b64encode(os.urandom(32)).decode()
    old_text = base64.b64encode(old.material).decode()
    monkeypatch.setenv(ENV, f"{old.version + 1}:{new},{old.version}:{old_text}")
    call_command("rotate_keys", stdout=StringIO())
    stored = CheckIn.objects.get(pk=made.pk)
    assert stored.master_version == old.version + 1
    # The old key can go: the check-in opens with the new one alone.
    monkeypatch.setenv(ENV, f"{old.version + 1}:{new}")
    assert CheckIn.objects.get(pk=made.pk).note == SELF_CARE_NOTE


def test_after_erasure_neither_the_clients_answers_nor_their_words_can_be_read(
    practice: Practice,
) -> None:
    p = practice
    note = _group_note(p)
    do_add_goal(p.own, GOAL, actor=p.clinician)
    form = do_create_administration(p.own, "phq9")
    response = do_record_response(form, PHQ9_ITEM9, idempotency_key="erase-1")
    do_amend_response(response, PHQ9_MILD, REASON, p.clinician)
    client_id = p.own.client_id
    responses = Response.objects.filter(administration__episode=p.own)
    amendments = Amendment.objects.filter(response__administration__episode=p.own)
    # What a thief's copy made before the erasure would hold: only sealed bytes.
    sealed = [bytes(r.sealed) for r in (*responses, *amendments)]
    sealed += [bytes(a.sealed_reason) for a in amendments]
    sealed += [bytes(CheckInNote.objects.get(pk=note.pk).sealed)]
    sealed += [bytes(w.sealed) for w in GoalWording.objects.filter(client_id=client_id)]
    keys = KeyRing([client_id])
    assert [r.open_answers(keys.key(client_id)) for r in responses]  # they open before
    before = database_text()
    assert not [w for w in WORDS if w in before]
    raw = _raw_database()
    assert raw is None or all(s in raw for s in sealed)  # the file search finds what is there

    do_erase_client(p.own.client, actor=p.admin)

    after = database_text()
    assert not [w for w in WORDS if w in after]
    assert not [s for s in sealed if s.decode("latin-1") in after]
    assert not Administration.objects.filter(episode_id=p.own.pk).exists()
    assert not ClientKey.objects.filter(client_id=client_id).exists()
    raw = _raw_database()
    if raw is not None:
        # Freed pages are zeroed (secure_delete): the words and the sealed bytes are gone.
        assert not [w for w in WORDS if w.encode() in raw]
        assert not [s for s in sealed if s in raw]
    # The practice's other clients keep theirs.
    do_record_response(
        do_create_administration(p.shared, "phq9"), PHQ9_MILD, idempotency_key="other"
    )
    assert Response.objects.get(administration__episode=p.shared).answers["1"] == 1


def _column(table: str, column: str, pk: int) -> object:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_notes_and_self_care_in_the_clear_are_sealed_by_the_migrations_and_opened_going_back() -> (
    None
):
    practice = build_practice()
    note = _group_note(practice)
    made = do_check_in(practice.clinician, [7, 3, 9, 1, 8, 2], note=SELF_CARE_NOTE)
    executor = MigrationExecutor(connection)
    executor.migrate([("groups", "0002_checkinnote"), ("selfcare", "0001_initial")])
    # As an older Ally kept them: in the clear.
    assert _column("groups_checkinnote", "text", note.pk) == NOTE
    assert _column("selfcare_checkin", "note", made.pk) == SELF_CARE_NOTE
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    text = database_text()
    assert "Bartholomew" not in text
    assert "Kowalczyk" not in text
    assert CheckInNote.objects.get(pk=note.pk).text == NOTE
    stored = CheckIn.objects.get(pk=made.pk)
    assert (stored.answers, stored.note) == ([7, 3, 9, 1, 8, 2], SELF_CARE_NOTE)


def _relation_file(table: str) -> bytes | None:
    """The bytes of a PostgreSQL table's file after a checkpoint, dead row versions included;
    None where the server's files cannot be read from here."""
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
        cursor.execute(
            "SELECT current_setting('data_directory'), pg_relation_filepath(%s)", [table]
        )
        folder, relative = cursor.fetchone()
    try:
        return (Path(folder) / relative).read_bytes()
    except OSError:
        return None


def _others_hold_old_rows() -> bool:
    """Whether a transaction of another connection to the server is open (PostgreSQL keeps the
    row versions it may still see, whatever the database)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
            " AND (backend_xid IS NOT NULL OR backend_xmin IS NOT NULL)"
        )
        return bool(cursor.fetchone()[0])


@pytest.mark.solo
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_an_erased_clients_data_key_leaves_the_key_tables_file() -> None:
    """A deleted row stays in PostgreSQL's file until its space is reused; the erasure rewrites
    the table of wrapped keys, so the key that opens the client's sealed leftovers is gone. Where
    a transaction open elsewhere still sees the row, the hourly purge rewrites it later."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite zeroes freed pages at once (the test above reads its file)")
    if _others_hold_old_rows():
        pytest.skip("another connection's open transaction keeps deleted rows on this server")
    p = build_practice()
    for episode in (p.own, p.shared):
        form = do_create_administration(episode, "phq9")
        do_record_response(form, PHQ9_MILD, idempotency_key=f"k{episode.pk}")
    own, shared = (
        bytes(ClientKey.objects.get(client_id=e.client_id).wrapped) for e in (p.own, p.shared)
    )
    table = ClientKey._meta.db_table
    before = _relation_file(table)
    if before is None:
        pytest.skip("the PostgreSQL server's files cannot be read from this process")
    assert own in before  # the search finds what is there
    assert shared in before

    do_erase_client(p.own.client, actor=p.admin)
    assert own not in (_relation_file(table) or b"")

    # A report running on another connection while the next client is erased.
    report = connections.create_connection("default")
    try:
        with report.cursor() as cursor:
            cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            cursor.execute(f'SELECT count(*) FROM "{table}"')
        do_erase_client(p.shared.client, actor=p.admin)
        assert shared in (_relation_file(table) or b"")  # still visible to the report
    finally:
        report.close()
    call_command("purge_expired", stdout=StringIO())
    assert shared not in (_relation_file(table) or b"")
