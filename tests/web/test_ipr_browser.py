"""IPR in Chromium, checked with axe-core: the clinician attaches a short recording made in the
test (a WAV tone), the client consents on a phone and marks a moment with the player's time,
the clinician marks theirs, and neither sees the other's marks until both have finished."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from ipr_media import VTT, wav_bytes
from test_journey import (  # the journey's browser, server and accessibility check
    PHONE,
    Accessibility,
    PolicyWatch,
    browser,
    live_server,
)
from test_staff_screens_browser import signed_in

from ally.web.accounts.models import User
from ally.web.ipr.models import Mark, Recording
from ally.web.practice.models import (
    Client,
    ClientIdentity,
    Episode,
    Membership,
    Organisation,
    Session,
)
from ally.web.scoping import Role

__all__ = ["browser", "live_server"]
LAPTOP = {"width": 1280, "height": 900}


def _wait_for_media(page: Any) -> float:
    page.wait_for_function(
        "() => { const m = document.getElementById('ipr-media'); return m && m.readyState >= 1; }"
    )
    return float(page.evaluate("document.getElementById('ipr-media').duration"))


def _seek(page: Any, seconds: float) -> None:
    page.evaluate(
        """(t) => new Promise((done) => {
            const m = document.getElementById('ipr-media');
            m.addEventListener('seeked', () => done(), {once: true});
            m.currentTime = t;
        })""",
        seconds,
    )


def _a_session() -> tuple[Membership, Episode, Session]:
    """Riverside's clinician, their client Sam's episode and its first session, now."""
    org = Organisation.objects.create(name="Riverside", slug="riverside")
    user = User.objects.create_user("robin@riverside.example", "pw", display_name="Robin")
    clinician = Membership.objects.create(user=user, organisation=org, role=Role.CLINICIAN)
    client_row = Client.objects.create(organisation=org, code="R-1")
    ClientIdentity.objects.create(client=client_row, name="Sam Rivers")
    episode = Episode.objects.create(
        organisation=org, client=client_row, clinician=clinician, opened_on=dt.date(2026, 1, 5)
    )
    session = Session.objects.create(
        organisation=org, episode=episode, number=1, scheduled_at=timezone.now()
    )
    return clinician, episode, session


def test_client_and_clinician_review_a_recording_apart(
    browser: Any, live_server: Any, settings: Any, tmp_path: Path
) -> None:
    settings.SESSION_COOKIE_NAME = "sessionid"
    settings.SESSION_COOKIE_SECURE = False
    settings.ALLY_BASE_URL = live_server.url
    clinician, episode, session = _a_session()
    recording_file = tmp_path / "session.wav"
    recording_file.write_bytes(wav_bytes(seconds=4))
    transcript_file = tmp_path / "session.vtt"
    transcript_file.write_text(VTT)

    a11y, policy = Accessibility(), PolicyWatch()
    staff = policy.watch(signed_in(browser, live_server, clinician, LAPTOP))
    staff.goto(
        live_server.url + reverse("clinic:episode", kwargs={"org": "riverside", "pk": episode.pk})
    )
    staff.get_by_role("link", name="Recordings and recall", exact=False).first.click()
    staff.wait_for_load_state()
    a11y.check(staff)
    staff.get_by_label("The recording (audio or video)").set_input_files(str(recording_file))
    staff.get_by_role("button", name="Attach the recording").click()
    staff.wait_for_load_state()
    recording = Recording.objects.get(session=session)
    assert staff.url.endswith(f"/recall/recordings/{recording.pk}/")
    assert "not consented yet" in staff.locator("main").inner_text()
    a11y.check(staff)
    staff.get_by_label("Transcript (WebVTT, .vtt)").set_input_files(str(transcript_file))
    staff.get_by_role("button", name="Attach the transcript").click()
    staff.wait_for_load_state()
    link = staff.locator("#ipr-link").input_value()

    # The client, on a phone: consent first, then the recording with its transcript.
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    mine = policy.watch(phone.new_page())
    mine.goto(link)
    assert mine.url == f"{live_server.url}/a/recall/"
    a11y.check(mine)
    assert mine.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    mine.get_by_label("Review, supervision, and research", exact=False).check()
    mine.get_by_role("button", name="I consent", exact=True).click()
    mine.wait_for_load_state()
    assert _wait_for_media(mine) == pytest.approx(4, abs=0.1)
    a11y.check(mine)
    # Seeking asks the server for a range of the file.
    _seek(mine, 1.0)
    mine.get_by_role("button", name="Use the player's time as the start").click()
    assert mine.get_by_label("From (minutes:seconds)").input_value() == "0:01"
    mine.get_by_label("Helpful", exact=True).check()
    mine.get_by_label("How helpful or hindering was it?").select_option("8")
    mine.get_by_label("What were you thinking and feeling", exact=False).fill("I felt understood")
    mine.get_by_role("button", name="Save the mark").click()
    mine.wait_for_load_state()
    a11y.check(mine)
    assert Mark.objects.filter(review__rater="client", start=1).exists()

    # The clinician types a time instead (no script needed); the client's words stay hidden.
    staff.reload()
    assert _wait_for_media(staff) == pytest.approx(4, abs=0.1)
    assert "I felt understood" not in staff.locator("main").inner_text()
    staff.get_by_label("From (minutes:seconds)").fill("0:01")
    staff.get_by_label("To (leave empty for a single moment)").fill("0:03")
    staff.get_by_label("Significant", exact=True).check()
    staff.get_by_label("How helpful or hindering was it?").select_option("6")
    staff.get_by_role("button", name="Save the mark").click()
    staff.wait_for_load_state()
    a11y.check(staff)
    staff.get_by_role("button", name="Finish my review").click()
    staff.wait_for_load_state()
    assert "I felt understood" not in staff.locator("main").inner_text()

    assert mine.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    mine.get_by_role("button", name="I have finished").click()
    mine.wait_for_load_state()
    assert "0:01–0:03" in mine.locator("main").inner_text()
    a11y.check(mine)

    staff.reload()
    shown = staff.locator("main").inner_text()
    assert "I felt understood" in shown
    assert "Marked by both" in shown
    a11y.check(staff)

    assert a11y.problems == [], "\n\n".join(a11y.problems)
    assert policy.blocked == []


@pytest.fixture
def browser_with_a_microphone() -> Any:
    """Chromium with its fake microphone (a tone), allowed without asking."""
    from test_journey import CHROMIUM_ARGS, _chromium

    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=_chromium(),
            args=[
                *CHROMIUM_ARGS,
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
            ],
        )
        yield chromium
        chromium.close()
        from django.db import connections

        connections.close_all()


def test_a_clinician_records_a_session_in_the_browser_and_attaches_it(
    browser_with_a_microphone: Any, live_server: Any, settings: Any
) -> None:
    settings.SESSION_COOKIE_NAME = "sessionid"
    settings.SESSION_COOKIE_SECURE = False
    clinician, _episode, session = _a_session()
    a11y, policy = Accessibility(), PolicyWatch()
    staff = policy.watch(signed_in(browser_with_a_microphone, live_server, clinician, LAPTOP))
    staff.goto(
        live_server.url + reverse("ipr:session", kwargs={"org": "riverside", "pk": session.pk})
    )
    staff.get_by_role("button", name="Record with this computer's microphone").click()
    staff.get_by_text("Recording: 0:02", exact=False).wait_for()
    a11y.check(staff)
    staff.get_by_role("button", name="Stop recording").click()
    staff.get_by_text("Recorded 0:0", exact=False).wait_for()
    staff.get_by_role("button", name="Attach the recording").click()
    staff.wait_for_load_state()
    recording = Recording.objects.get(session=session)
    assert recording.media_type == "video/webm"  # MediaRecorder's WebM, found from its bytes
    assert recording.size > 1000
    assert staff.url.endswith(f"/recall/recordings/{recording.pk}/")
    assert a11y.problems == [], "\n\n".join(a11y.problems)
    assert policy.blocked == []
