"""Interpersonal Process Recall in the web app: upload, consent, blind reviews, range requests,
retention, scoping, erasure and the exports."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client as Browser
from django.urls import reverse
from ipr_media import TOMORROW, VTT, new_session, stored_recording, wav_bytes
from web_practice import Practice, sign_in

from ally.ipr.marks import Rater
from ally.web.actions.ipr import (
    IprActionError,
    do_add_mark,
    do_delete_expired_media,
    do_finish_review,
)
from ally.web.ipr import media
from ally.web.ipr.link import link_url
from ally.web.ipr.models import ConsentScope, Mark, Recording


def _as(member: Any) -> Browser:
    browser = Browser()
    sign_in(browser, member.user)
    return browser


def _client_visit(recording: Recording) -> Browser:
    browser = Browser()
    response = browser.get(link_url(recording).removeprefix("http://localhost:8000"))
    assert response.status_code == 302
    assert response["Location"] == reverse("ipr_client:recording")
    return browser


# Upload -----------------------------------------------------------------------------------------


def test_a_clinician_uploads_a_recording_encrypted_with_the_clients_key(
    practice: Practice, settings: Any
) -> None:
    session = new_session(practice.own)
    wav = wav_bytes()
    response = _as(practice.clinician).post(
        reverse("ipr:session", kwargs={"org": "north", "pk": session.pk}),
        {
            "media": SimpleUploadedFile("anna-session.mp3", wav, content_type="audio/mpeg"),
            "retention_until": TOMORROW.isoformat(),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    recording = Recording.objects.get(session=session)
    # The type comes from the first bytes (RIFF/WAVE), not from the name or the browser.
    assert recording.media_type == "audio/wav"
    assert recording.size == len(wav)
    stored = Path(settings.ALLY_DATA_DIR) / "recordings" / f"{recording.file_id}.media"
    raw = stored.read_bytes()
    assert wav[:44] not in raw
    assert b"RIFF" not in raw
    assert stored.stat().st_mode & 0o777 == 0o600
    assert (
        b"".join(
            media.read_range(recording.file_id, _key(recording), recording.size, 0, len(wav) - 1)
        )
        == wav
    )


def _key(recording: Recording) -> bytes:
    from ally.web.actions.ipr import media_key

    return media_key(recording)


def test_a_file_that_is_not_audio_or_video_is_refused_by_its_bytes(practice: Practice) -> None:
    session = new_session(practice.own)
    response = _as(practice.clinician).post(
        reverse("ipr:session", kwargs={"org": "north", "pk": session.pk}),
        {
            "media": SimpleUploadedFile("notes.mp3", b"%PDF-1.7 " * 100, content_type="audio/mpeg"),
            "retention_until": TOMORROW.isoformat(),
        },
    )
    assert response.status_code == 400
    assert "not a recording Ally can play" in response.content.decode()
    assert not Recording.objects.exists()
    assert not list((Path(media.folder())).iterdir())


def test_an_upload_over_the_size_limit_is_refused_with_the_limit_named(
    practice: Practice, settings: Any
) -> None:
    settings.ALLY_RECORDING_MAX_MB = 1
    session = new_session(practice.own)
    big = wav_bytes(seconds=80)  # 1.28 MB at 8 kHz, 16 bits
    response = _as(practice.clinician).post(
        reverse("ipr:session", kwargs={"org": "north", "pk": session.pk}),
        {
            "media": SimpleUploadedFile("s.wav", big, content_type="audio/wav"),
            "retention_until": TOMORROW.isoformat(),
        },
    )
    assert response.status_code == 400
    assert "larger than 1 MB" in response.content.decode()
    assert not Recording.objects.exists()
    assert not list(media.folder().iterdir())


# Consent and retention -------------------------------------------------------------------------


def test_without_consent_nobody_plays_or_reviews(practice: Practice) -> None:
    recording = stored_recording(practice.own)
    url = reverse("ipr:media", kwargs={"org": "north", "pk": recording.pk})
    assert _as(practice.clinician).get(url).status_code == 404
    with pytest.raises(IprActionError, match="not consented"):
        do_add_mark(
            recording,
            Rater.CLINICIAN,
            start=3,
            end=None,
            kind="helpful",
            rating=7,
            answers={},
            actor=practice.clinician,
        )
    # Nor does a supervisor reach the recording at all.
    page = reverse("ipr:recording", kwargs={"org": "north", "pk": recording.pk})
    assert _as(practice.supervisor).get(page).status_code == 404


def test_the_client_consents_through_their_link_with_scope_and_an_earlier_retention_date(
    practice: Practice,
) -> None:
    recording = stored_recording(practice.own)
    browser = _client_visit(recording)
    page = browser.get(reverse("ipr_client:recording"))
    assert page.status_code == 200
    assert "I consent" in page.content.decode()
    assert page["Cache-Control"].count("no-store")
    assert page["Referrer-Policy"] == "no-referrer"
    later = TOMORROW + dt.timedelta(days=1)
    refused = browser.post(
        reverse("ipr_client:recording"),
        {"action": "consent", "consent-scope": "supervision", "consent-retention_until": later},
    )
    assert refused.status_code == 400
    earlier = TOMORROW - dt.timedelta(days=10)
    done = browser.post(
        reverse("ipr_client:recording"),
        {"action": "consent", "consent-scope": "supervision", "consent-retention_until": earlier},
    )
    assert done.status_code == 302
    recording.refresh_from_db()
    assert (recording.consent, recording.retention_until) == ("supervision", earlier)
    supervisor_page = reverse("ipr:recording", kwargs={"org": "north", "pk": recording.pk})
    assert _as(practice.supervisor).get(supervisor_page).status_code == 200
    # Supervision does not reach research.
    assert _as(practice.researcher).get(supervisor_page).status_code == 404


def test_after_the_retention_date_the_media_is_gone_and_the_marks_stay(
    practice: Practice, django_capture_on_commit_callbacks: Any
) -> None:
    recording = stored_recording(practice.own, scope=ConsentScope.REVIEW)
    recording.seal_words({**recording.words(), "transcript": VTT})
    recording.save()
    do_add_mark(
        recording,
        Rater.CLINICIAN,
        start=1,
        end=2,
        kind="significant",
        rating=6,
        answers={"then": "I felt unsure"},
        actor=practice.clinician,
    )
    path = media.path_of(recording.file_id)
    assert path.exists()
    # The day after the retention date, not before.
    assert do_delete_expired_media(now=_at(recording.retention_until)) == 0
    call_command("delete_expired_recordings", stdout=io.StringIO())
    assert path.exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            do_delete_expired_media(now=_at(recording.retention_until + dt.timedelta(days=1))) == 1
        )
    recording = Recording.objects.get(pk=recording.pk)
    assert not path.exists()
    assert recording.media_deleted_at is not None
    assert recording.words() == {"media_key": "", "transcript": ""}
    assert Mark.objects.get(review__recording=recording).words()["then"] == "I felt unsure"
    url = reverse("ipr:media", kwargs={"org": "north", "pk": recording.pk})
    assert _as(practice.clinician).get(url).status_code == 404


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)


def test_withdrawing_consent_deletes_the_media(
    practice: Practice, django_capture_on_commit_callbacks: Any
) -> None:
    recording = stored_recording(practice.own, scope=ConsentScope.RESEARCH)
    browser = _client_visit(recording)
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            browser.post(reverse("ipr_client:recording"), {"action": "withdraw"}).status_code == 302
        )
    recording.refresh_from_db()
    assert recording.consent == ""
    assert not recording.has_media
    assert not media.path_of(recording.file_id).exists()


def test_erasing_the_client_destroys_the_recording(
    practice: Practice, django_capture_on_commit_callbacks: Any
) -> None:
    from ally.web.actions.privacy import do_erase_client

    recording = stored_recording(practice.own, scope=ConsentScope.REVIEW)
    path = media.path_of(recording.file_id)
    with django_capture_on_commit_callbacks(execute=True):
        do_erase_client(practice.own.client, actor=practice.admin)
    assert not Recording.objects.filter(pk=recording.pk).exists()
    assert not path.exists()


# Range requests --------------------------------------------------------------------------------


def test_the_media_streams_with_range_requests_for_seeking(practice: Practice) -> None:
    wav = wav_bytes(seconds=40)  # 640 kB: three encrypted chunks
    recording = stored_recording(practice.own, wav, scope=ConsentScope.REVIEW)
    url = reverse("ipr:media", kwargs={"org": "north", "pk": recording.pk})
    browser = _as(practice.clinician)

    whole = browser.get(url)
    assert whole.status_code == 200
    assert whole["Accept-Ranges"] == "bytes"
    assert whole["Content-Type"] == "audio/wav"
    assert "no-store" in whole["Cache-Control"]
    assert "private" in whole["Cache-Control"]
    assert b"".join(whole.streaming_content) == wav

    # A seek into the middle, across the boundary of two chunks.
    first, last = media.CHUNK - 10, media.CHUNK + 9
    part = browser.get(url, HTTP_RANGE=f"bytes={first}-{last}")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes {first}-{last}/{len(wav)}"
    assert part["Content-Length"] == "20"
    assert b"".join(part.streaming_content) == wav[first : last + 1]

    tail = browser.get(url, HTTP_RANGE="bytes=-100")
    assert tail.status_code == 206
    assert b"".join(tail.streaming_content) == wav[-100:]
    open_ended = browser.get(url, HTTP_RANGE=f"bytes={len(wav) - 5}-")
    assert b"".join(open_ended.streaming_content) == wav[-5:]

    outside = browser.get(url, HTTP_RANGE=f"bytes={len(wav)}-")
    assert outside.status_code == 416
    assert outside["Content-Range"] == f"bytes */{len(wav)}"


def test_a_changed_byte_in_the_stored_media_is_refused_not_played(practice: Practice) -> None:
    recording = stored_recording(practice.own, scope=ConsentScope.REVIEW)
    path = media.path_of(recording.file_id)
    raw = bytearray(path.read_bytes())
    raw[100] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(media.MediaError, match="does not open"):
        b"".join(media.read_range(recording.file_id, _key(recording), recording.size, 0, 10))


# Blind reviews ---------------------------------------------------------------------------------


def _mark(
    browser: Browser, url: str, start: str, end: str = "", rating: str = "7", **more: str
) -> Any:
    return browser.post(
        url,
        {
            "action": "mark",
            "mark-start": start,
            "mark-end": end,
            "mark-kind": "helpful",
            "mark-rating": rating,
            "mark-then": more.get("then", ""),
        },
    )


def test_neither_sees_the_others_marks_until_both_have_finished(practice: Practice) -> None:
    recording = stored_recording(practice.own, scope=ConsentScope.REVIEW)
    page = reverse("ipr:recording", kwargs={"org": "north", "pk": recording.pk})
    review = reverse("ipr:review", kwargs={"org": "north", "pk": recording.pk})
    clinician = _as(practice.clinician)
    client = _client_visit(recording)
    client_page = reverse("ipr_client:recording")

    assert _mark(client, client_page, "0:01", then="I felt heard").status_code == 302
    assert _mark(clinician, review, "0:02", "0:03", then="I pushed too hard").status_code == 302
    assert "I felt heard" not in clinician.get(page).content.decode()
    assert "I pushed too hard" not in client.get(client_page).content.decode()

    assert client.post(client_page, {"action": "finish"}).status_code == 302
    assert "I felt heard" not in clinician.get(page).content.decode()
    assert "0:02–0:03" not in client.get(client_page).content.decode()

    assert clinician.post(review, {"action": "finish"}).status_code == 302
    shown = clinician.get(page).content.decode()
    assert "I felt heard" in shown
    assert "Agreement" in shown
    # The client sees the times of the practitioner's marks, not their words.
    theirs = client.get(client_page).content.decode()
    assert "0:02–0:03" in theirs
    assert "I pushed too hard" not in theirs
    # A finished review's marks are fixed.
    refused = _mark(client, client_page, "0:02")
    assert refused.status_code == 302
    assert "review is finished" in client.get(client_page).content.decode()
    assert Mark.objects.filter(review__rater="client").count() == 1


def test_marks_are_typed_as_minutes_and_seconds_and_checked(practice: Practice) -> None:
    recording = stored_recording(practice.own, scope=ConsentScope.REVIEW)
    review = reverse("ipr:review", kwargs={"org": "north", "pk": recording.pk})
    clinician = _as(practice.clinician)
    assert _mark(clinician, review, "1:05", "1:20").status_code == 302
    mark = Mark.objects.get()
    assert (mark.start, mark.end) == (65, 80)
    bad = _mark(clinician, review, "1:75")
    assert bad.status_code == 400
    assert "minutes and seconds" in bad.content.decode()
    backwards = _mark(clinician, review, "2:00", "1:00")
    assert backwards.status_code == 400
    assert "end comes after the start" in backwards.content.decode()
    assert _mark(clinician, review, "0:10", rating="10").status_code == 400


# The named event (Brief Structured Recall) -----------------------------------------------------


def test_the_client_names_the_most_helpful_event_and_both_mark_its_beginning_peak_and_end(
    practice: Practice,
) -> None:
    recording = stored_recording(practice.own, scope=ConsentScope.REVIEW)
    client = _client_visit(recording)
    page = reverse("ipr_client:recording")
    named = client.post(
        page,
        {
            "action": "event",
            "event-kind": "helpful",
            "event-what": "When we talked about my sister",
            "event-then": "Relief",
            "event-rating": "8",
        },
    )
    assert named.status_code == 302
    for part, time in (("begins", "0:01"), ("peak", "0:02"), ("ends", "0:03")):
        response = client.post(
            page,
            {"action": "mark", "mark-start": time, "mark-kind": "helpful", "mark-part": part},
        )
        assert response.status_code == 302
    review = reverse("ipr:review", kwargs={"org": "north", "pk": recording.pk})
    clinician = _as(practice.clinician)
    for part, time in (("begins", "0:00"), ("ends", "0:03")):
        clinician.post(
            review,
            {"action": "mark", "mark-start": time, "mark-kind": "helpful", "mark-part": part},
        )
    client.post(page, {"action": "finish"})
    clinician.post(review, {"action": "finish"})
    shown = clinician.get(reverse("ipr:recording", kwargs={"org": "north", "pk": recording.pk}))
    text = shown.content.decode()
    assert "When we talked about my sister" in text
    assert "The named event, as the client marked it" in text
    assert text.count("A peak of the event") >= 1


# Scoping ---------------------------------------------------------------------------------------


def test_another_caseload_is_not_found_and_a_researcher_sees_only_research_without_media_or_words(
    practice: Practice,
) -> None:
    other = stored_recording(practice.other, scope=ConsentScope.RESEARCH)
    page = reverse("ipr:recording", kwargs={"org": "north", "pk": other.pk})
    assert _as(practice.clinician).get(page).status_code == 404

    research = stored_recording(practice.own, scope=ConsentScope.RESEARCH)
    review_only = stored_recording(practice.own, scope=ConsentScope.REVIEW)
    do_add_mark(
        research,
        Rater.CLINICIAN,
        start=1,
        end=None,
        kind="helpful",
        rating=8,
        answers={"then": "secret words"},
        actor=practice.clinician,
    )
    do_add_mark(
        research,
        Rater.CLIENT,
        start=2,
        end=None,
        kind="helpful",
        rating=7,
        answers={"then": "client words"},
        actor=None,
    )
    do_finish_review(research, Rater.CLINICIAN, actor=practice.clinician)
    do_finish_review(research, Rater.CLIENT, actor=None)
    researcher = _as(practice.researcher)
    shown = researcher.get(reverse("ipr:recording", kwargs={"org": "north", "pk": research.pk}))
    assert shown.status_code == 200
    text = shown.content.decode()
    assert "secret words" not in text
    assert "client words" not in text
    assert "N-001" not in text
    assert "Name of" not in text
    assert "<audio" not in text
    assert (
        researcher.get(reverse("ipr:media", kwargs={"org": "north", "pk": research.pk})).status_code
        == 403
    )
    assert (
        researcher.get(
            reverse("ipr:recording", kwargs={"org": "north", "pk": review_only.pk})
        ).status_code
        == 404
    )
    export = researcher.get(reverse("ipr:marks_csv", kwargs={"org": "north"}))
    rows = export.content.decode().splitlines()
    assert rows[0] == "recording,rater,start,end,kind,rating,part"
    assert sorted(rows[1:]) == [
        f"{research.pk},client,2,2,helpful,7,",
        f"{research.pk},clinician,1,1,helpful,8,",
    ]
    eaf = researcher.get(reverse("ipr:eaf", kwargs={"org": "north", "pk": research.pk}))
    assert eaf.status_code == 200
    assert b"<ANNOTATION_DOCUMENT" in eaf.content
    assert b"secret" not in eaf.content


def test_the_page_shows_the_same_agreement_as_the_command(
    practice: Practice, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from ally.cli.main import cli

    recording = stored_recording(practice.own, scope=ConsentScope.RESEARCH)
    for rater, actor, starts in (
        (Rater.CLIENT, None, [(1, 2, 3), (20, 20, 8), (40, 45, 6), (70, 70, 2)]),
        (Rater.CLINICIAN, practice.clinician, [(2, 2, 4), (21, 24, 9), (44, 44, 5), (90, 90, 5)]),
    ):
        for start, end, rating in starts:
            do_add_mark(
                recording,
                rater,
                start=start,
                end=end,
                kind="helpful",
                rating=rating,
                answers={},
                actor=actor,
            )
        do_finish_review(recording, rater, actor=actor)
    page = (
        _as(practice.clinician)
        .get(reverse("ipr:recording", kwargs={"org": "north", "pk": recording.pk}))
        .content.decode()
    )
    export = _as(practice.clinician).get(reverse("ipr:marks_csv", kwargs={"org": "north"}))
    marks = tmp_path / "marks.csv"
    marks.write_bytes(export.content)
    result = CliRunner().invoke(cli, ["ipr", "agreement", str(marks)])
    assert result.exit_code == 0, result.output
    row = result.output.splitlines()[1].split(",")
    assert row[:4] == [str(recording.pk), "4", "4", "3"]
    kappa, r = float(row[4]), float(row[5])
    assert re.search(rf">\s*{kappa:.2f}\s*<", page), kappa
    assert re.search(rf">\s*{r:.2f}\s*<", page), r


def test_the_pages_speak_german(practice: Practice) -> None:
    recording = stored_recording(practice.own)
    client = _client_visit(recording)
    page = client.get(reverse("ipr_client:recording"), HTTP_ACCEPT_LANGUAGE="de")
    assert "Ihre Sitzung, noch einmal angesehen" in page.content.decode()
    assert "Ich stimme zu" in page.content.decode()
    staff = _as(practice.clinician).get(
        reverse("ipr:recording", kwargs={"org": "north", "pk": recording.pk}),
        HTTP_ACCEPT_LANGUAGE="de",
    )
    assert "Die Klient:in hat noch nicht zugestimmt" in staff.content.decode()


def test_new_data_keys_keep_the_recording_its_transcript_and_the_words_readable(
    practice: Practice,
) -> None:
    from ally.web.actions.ipr import do_attach_transcript
    from ally.web.privacy.models import ClientKey

    wav = wav_bytes(seconds=1)
    recording = stored_recording(practice.own, wav, scope=ConsentScope.REVIEW)
    do_attach_transcript(recording, VTT, actor=practice.clinician)
    do_add_mark(
        recording,
        Rater.CLIENT,
        start=0,
        end=None,
        kind="helpful",
        rating=9,
        answers={"then": "calm"},
        actor=None,
    )
    before = ClientKey.objects.get(client=practice.own.client).generation
    call_command("rotate_keys", "--data-keys", stdout=io.StringIO())
    assert ClientKey.objects.get(client=practice.own.client).generation == before + 1
    fresh = Recording.objects.get(pk=recording.pk)
    assert fresh.words()["transcript"] == VTT
    assert b"".join(media.read_range(fresh.file_id, _key(fresh), len(wav), 0, len(wav) - 1)) == wav
    assert Mark.objects.get(review__recording=fresh).words()["then"] == "calm"


def test_the_clients_data_export_holds_their_recordings_and_marks(practice: Practice) -> None:
    """GDPR Art. 15: the client's own marks in their words; the practitioner's marks, as the
    client sees them, only once both have finished, and without the practitioner's words."""
    from ally.web.privacy.export import client_data, export_client

    recording = stored_recording(practice.own, scope=ConsentScope.REVIEW)
    review = reverse("ipr:review", kwargs={"org": "north", "pk": recording.pk})
    clinician = _as(practice.clinician)
    client = _client_visit(recording)
    client_page = reverse("ipr_client:recording")
    _mark(client, client_page, "0:01", then="I felt heard")
    _mark(clinician, review, "0:02", "0:03", then="I pushed too hard")

    def exported() -> dict[str, Any]:
        (episode,) = [
            e for e in client_data(practice.own.client, None)["episodes"] if e["recordings"]
        ]
        (found,) = episode["recordings"]
        return dict(found)

    found = exported()
    assert found["consent"] == "review"
    assert [(m["start_seconds"], m["words"]["then"]) for m in found["your_marks"]] == [
        (1, "I felt heard")
    ]
    assert found["practitioner_marks"] == []
    client.post(client_page, {"action": "finish"})
    clinician.post(review, {"action": "finish"})
    found = exported()
    assert [(m["start_seconds"], m["end_seconds"]) for m in found["practitioner_marks"]] == [(2, 3)]
    assert "words" not in found["practitioner_marks"][0]
    archive = export_client(practice.own.client, membership=None)
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        page = opened.read("client.html").decode()
    assert "I felt heard" in page
    assert "0:02–0:03" in page
    assert "I pushed too hard" not in page
