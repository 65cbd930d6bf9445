"""A refused request is one line in the application log: the reason and the path, with no query
string, no traceback and nothing the caller sent (issue 19, finding 8c)."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import pytest
from django.test import Client as Browser
from django.urls import reverse
from web_practice import Practice, sign_in

from ally.web.logs import DropRequest


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """What the console handler of the settings (the one every Django record goes through)
    writes."""
    (handler,) = logging.getLogger("django").handlers
    assert isinstance(handler, logging.StreamHandler)
    assert any(isinstance(f, DropRequest) for f in handler.filters)
    written = io.StringIO()
    earlier = handler.setStream(written)
    try:
        yield written
    finally:
        handler.setStream(earlier)


def test_a_403_is_one_line_with_the_path_and_no_traceback(
    practice: Practice, console: io.StringIO
) -> None:
    browser = Browser()
    sign_in(browser, practice.researcher.user)
    url = reverse("auditlog:log", kwargs={"org": "north"})
    assert browser.get(url, {"action": "login.", "member": "secret"}).status_code == 403
    lines = console.getvalue().splitlines()
    assert lines, "the refusal is logged"
    (line,) = lines
    assert line.endswith(f"WARNING django.request: Forbidden (Permission denied): {url}")
    assert "Traceback" not in console.getvalue()
    assert "secret" not in console.getvalue()


def test_a_404_raised_by_a_view_is_one_line_too(practice: Practice, console: io.StringIO) -> None:
    browser = Browser()
    sign_in(browser, practice.clinician.user)
    url = reverse("clinic:episode", kwargs={"org": "north", "pk": practice.other.pk})
    assert browser.get(url).status_code == 404
    assert "Traceback" not in console.getvalue()
    assert len(console.getvalue().splitlines()) <= 1


def test_a_server_error_keeps_its_traceback() -> None:
    try:
        raise RuntimeError("a fault")
    except RuntimeError:
        record = logging.LogRecord(
            "django.request", logging.ERROR, "", 0, "Internal Server Error: %s", ("/x",), None
        )
        record.exc_info = sys.exc_info()
    record.status_code = 500
    assert DropRequest().filter(record)
    assert record.exc_info is not None
