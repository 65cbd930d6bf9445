"""Reads and exports are audited too, with the address they came from; administrators see and
export their own practice's log, and nobody else does."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test import Client as Browser
from django.urls import reverse
from web_practice import Practice, sign_in

from ally.web.audit import record
from ally.web.auditlog.chain import verify
from ally.web.auditlog.models import AuditEntry


def _browser(member, **extra) -> Browser:
    browser = Browser(**extra)
    sign_in(browser, member.user)
    return browser


def _reads() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action="read").order_by("pk"))


def test_a_client_page_read_leaves_an_entry_with_who_what_and_where(practice: Practice) -> None:
    url = reverse("clinic:episode", kwargs={"org": "north", "pk": practice.own.pk})
    response = _browser(practice.clinician, REMOTE_ADDR="203.0.113.7").get(url)
    assert response.status_code == 200
    (entry,) = _reads()
    assert entry.actor_id == practice.clinician.pk
    assert entry.organisation_id == practice.org.pk
    assert (entry.target_type, entry.target_id) == ("clinic:episode", str(practice.own.pk))
    assert entry.ip == "203.0.113.7"
    assert verify().holds


def test_an_api_read_leaves_an_entry(practice: Practice) -> None:
    url = f"/api/o/north/episodes/{practice.own.pk}"
    assert _browser(practice.clinician).get(url).status_code == 200
    (entry,) = _reads()
    assert entry.target_type.startswith("api:")
    assert entry.target_id == str(practice.own.pk)


def test_refused_and_signed_out_reads_leave_no_read_entry(practice: Practice) -> None:
    colleague_episode = reverse("clinic:episode", kwargs={"org": "north", "pk": practice.other.pk})
    assert _browser(practice.clinician).get(colleague_episode).status_code == 404
    assert Browser().get(colleague_episode).status_code == 302
    assert _reads() == []


def test_the_address_comes_from_forwarded_for_only_behind_trusted_proxies(
    practice: Practice, settings
) -> None:
    url = reverse("clinic:caseload", kwargs={"org": "north"})
    spoofing = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "198.51.100.1, 192.0.2.9"}
    _browser(practice.clinician, **spoofing).get(url)
    settings.ALLY_PROXY_COUNT = 1
    _browser(practice.clinician, **spoofing).get(url)
    assert [e.ip for e in _reads()] == ["10.0.0.2", "192.0.2.9"]


def test_a_changed_address_breaks_the_chain(practice: Practice) -> None:
    _browser(practice.clinician, REMOTE_ADDR="203.0.113.7").get(
        reverse("clinic:caseload", kwargs={"org": "north"})
    )
    (entry,) = _reads()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {AuditEntry._meta.db_table} SET ip = '198.51.100.9' WHERE id = %s",
            [entry.pk],
        )
    assert verify().broken_at == entry.pk


@pytest.mark.parametrize("role", ["clinician", "supervisor", "researcher"])
def test_only_administrators_see_the_log(practice: Practice, role: str) -> None:
    for name in ("auditlog:log", "auditlog:export"):
        response = _browser(getattr(practice, role)).get(reverse(name, kwargs={"org": "north"}))
        assert response.status_code == 403


def test_administrators_see_their_own_practice_only(practice: Practice) -> None:
    record("test.north", actor=practice.clinician, target=practice.own)
    record("test.south", actor=None, target=practice.elsewhere)
    page = _browser(practice.admin).get(reverse("auditlog:log", kwargs={"org": "north"}))
    assert page.status_code == 200
    text = page.content.decode()
    assert "test.north" in text
    assert "test.south" not in text
    assert str(practice.clinician.user) in text


def test_the_log_filters_by_action_and_date(practice: Practice) -> None:
    record("test.north", actor=practice.clinician, target=practice.own)
    browser = _browser(practice.admin)
    url = reverse("auditlog:log", kwargs={"org": "north"})
    assert "test.north" not in browser.get(url, {"action": "read"}).content.decode()
    assert "test.north" in browser.get(url, {"action": "test."}).content.decode()
    swapped = browser.get(url, {"since": "2026-02-01", "until": "2026-01-01"})
    assert swapped.status_code == 400
    assert "swap the two dates" in swapped.content.decode()


def test_an_export_is_a_csv_of_the_filtered_entries_and_is_itself_audited(
    practice: Practice,
) -> None:
    record("test.north", actor=practice.clinician, target=practice.own)
    response = _browser(practice.admin).get(
        reverse("auditlog:export", kwargs={"org": "north"}), {"action": "test."}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "no-store" in response["Cache-Control"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["entry", "at", "member", "action"]
    assert [row[3] for row in rows[1:]] == ["test.north"]
    assert rows[1][2] == practice.clinician.user.email
    exported = AuditEntry.objects.get(action="audit.exported")
    assert exported.actor_id == practice.admin.pk
    # The export is recorded as an export, not also as a plain read.
    assert not AuditEntry.objects.filter(action="read", target_type="auditlog:export").exists()
    assert verify().holds
