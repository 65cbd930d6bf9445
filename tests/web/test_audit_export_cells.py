"""The audit log's CSV export runs nothing in the spreadsheet that opens it, and its address
column holds IP addresses only, whatever a caller puts in X-Forwarded-For (issue 19, finding 5).
"""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client as Browser
from django.urls import reverse
from web_practice import Practice, sign_in

from ally.web import csvsafe
from ally.web.accounts.models import User
from ally.web.audit import record_event
from ally.web.auditlog.chain import verify
from ally.web.auditlog.models import AuditEntry
from ally.web.practice.models import Membership
from ally.web.scoping import Role


def exported(practice: Practice, **filters: str) -> list[list[str]]:
    browser = Browser()
    sign_in(browser, practice.admin.user)
    response = browser.get(reverse("auditlog:export", kwargs={"org": "north"}), filters)
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.mark.parametrize(
    "text", ["=2+5", "+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1", "\n=1", "\uff1d1+1"]
)
def test_text_a_spreadsheet_would_run_gets_a_leading_quote(text: str) -> None:
    # OWASP, "CSV Injection": prefix such cells with a single quote.
    assert csvsafe.cell(text) == "'" + text


@pytest.mark.parametrize("value", ["north", "a=b", "2026-01-05T10:00:00+00:00", "", 42, -3])
def test_other_cells_and_numbers_are_left_as_they_are(value: object) -> None:
    assert csvsafe.cell(value) == value


def test_a_members_email_that_looks_like_a_formula_is_exported_as_text(
    practice: Practice,
) -> None:
    hostile = User.objects.create_user("=2+5@evil.example", "pw")
    member = Membership.objects.create(user=hostile, organisation=practice.org, role=Role.ADMIN)
    record_event(
        "test.hostile",
        actor=member,
        organisation_id=practice.org.pk,
        target_type="@SUM(1+1)",
        target_id="-2+3",
    )
    header, *rows = exported(practice, action="test.")
    assert header == [
        "entry",
        "at",
        "member",
        "action",
        "target_type",
        "target_id",
        "ip",
        "digest",
        "api_client",
    ]
    (row,) = rows
    assert row[2:6] == ["'=2+5@evil.example", "test.hostile", "'@SUM(1+1)", "'-2+3"]


@pytest.mark.parametrize(
    ("forwarded", "stored"),
    [
        ('=HYPERLINK("http://evil.example","x")', "invalid"),
        ("-1+1", "invalid"),
        ("198.51.100.7", "198.51.100.7"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("fe80::1%=1+1", "fe80::1"),  # the zone is no part of the address, and any text
    ],
)
def test_the_address_from_forwarded_for_is_an_ip_address_or_invalid(
    practice: Practice, settings, forwarded: str, stored: str
) -> None:
    settings.ALLY_PROXY_COUNT = 1
    browser = Browser(HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR="10.0.0.2")
    sign_in(browser, practice.clinician.user)
    assert browser.get(reverse("clinic:caseload", kwargs={"org": "north"})).status_code == 200
    read = AuditEntry.objects.filter(action="read").get()
    assert read.ip == stored
    assert verify().holds


def test_entries_made_outside_a_request_keep_no_address(practice: Practice) -> None:
    record_event("test.job", actor=None, organisation_id=practice.org.pk, target_type="job")
    assert AuditEntry.objects.get(action="test.job").ip == ""


@pytest.mark.parametrize(
    ("proxies", "forwarded", "address"),
    [
        (0, "198.51.100.7", "10.0.0.2"),  # no trusted proxy: the header is not read at all
        (1, "198.51.100.7", "198.51.100.7"),
        (1, "203.0.113.1, 198.51.100.7", "198.51.100.7"),  # the nearest proxy's view only
        (1, "' OR 1=1 --", "invalid"),
        (2, "198.51.100.7", "10.0.0.2"),  # fewer entries than proxies: the header is forged
    ],
)
def test_client_ip_gives_an_address_never_the_headers_text(
    settings, proxies: int, forwarded: str, address: str
) -> None:
    """Every reader of the address (the audit log, the sign-in lockout) gets it validated."""
    from django.test import RequestFactory

    from ally.web.audit import client_ip

    settings.ALLY_PROXY_COUNT = proxies
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR="10.0.0.2")
    assert client_ip(request) == address
