"""The audit log: every write leaves an entry with no clinical content, chained by hash, so a
changed, inserted or removed entry is found."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from web_practice import PHQ9_ITEM9, Practice

from ally.web.actions.answers import do_record_response
from ally.web.auditlog.chain import verify
from ally.web.auditlog.models import AuditEntry
from ally.web.collect.models import Administration, ImmutableRecordError


@pytest.fixture
def answered(practice: Practice, phq9: Administration) -> Administration:
    do_record_response(phq9, PHQ9_ITEM9, idempotency_key="k1", actor=practice.clinician)
    return phq9


def test_each_write_leaves_an_entry_without_content(
    practice: Practice, answered: Administration
) -> None:
    entries = list(AuditEntry.objects.order_by("pk"))
    actions = [e.action for e in entries]
    assert actions == [
        "administration.created",
        "alert.raised",
        "response.recorded",
    ]
    recorded = entries[-1]
    assert recorded.actor_id == practice.clinician.pk
    assert recorded.organisation_id == practice.org.pk
    assert recorded.target_type == "collect.Response"
    # Keys only: no answers, names or messages anywhere in the entry.
    text = " ".join(str(v) for v in AuditEntry.objects.values_list().get(pk=recorded.pk))
    assert "Name of" not in text
    assert "self-harm" not in text


def test_the_chain_holds_and_the_command_says_so(answered: Administration, capsys) -> None:
    assert verify().holds
    call_command("verify_audit")
    assert "holds: 3 entries" in capsys.readouterr().out


def test_entries_cannot_be_changed_or_deleted_through_ally(answered: Administration) -> None:
    entry = AuditEntry.objects.first()
    entry.action = "nothing.happened"
    with pytest.raises(ImmutableRecordError):
        entry.save()
    with pytest.raises(ImmutableRecordError):
        AuditEntry.objects.all().delete()


def test_a_changed_entry_breaks_the_chain_at_that_entry(answered: Administration) -> None:
    second = AuditEntry.objects.order_by("pk")[1]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {AuditEntry._meta.db_table} SET actor_id = 999 WHERE id = %s", [second.pk]
        )
    assert verify().broken_at == second.pk
    with pytest.raises(CommandError, match=f"breaks at entry {second.pk}"):
        call_command("verify_audit")


def test_a_removed_entry_breaks_the_chain_after_it(answered: Administration) -> None:
    _, second, third = AuditEntry.objects.order_by("pk")
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {AuditEntry._meta.db_table} WHERE id = %s", [second.pk])
    assert verify().broken_at == third.pk


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_chain(practice: Practice) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's in-memory test database cannot take concurrent writers")
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections, transaction

    from ally.web import audit

    def write(n: int) -> None:
        try:
            for _ in range(10):
                with transaction.atomic():
                    audit.record("test.append", actor=None, target=practice.org)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(4)))
    verdict = verify()
    assert verdict.holds
    assert AuditEntry.objects.filter(action="test.append").count() == 40
