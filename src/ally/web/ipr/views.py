"""The staff's pages of IPR: a session's recordings and the upload, a recording's page (the
player, the clinician's blind review, both timelines once allowed, the agreement and the
session's alliance beside them), the media and transcript for the player, and the exports."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotAllowed,
)
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from ally.ipr.elan import eaf_document
from ally.ipr.marks import COLUMNS, Rater
from ally.web import audit
from ally.web.actions.ipr import (
    LONGEST_TRANSCRIPT,
    IprActionError,
    both_finished,
    do_add_mark,
    do_attach_recording,
    do_attach_transcript,
    do_delete_media,
    do_finish_review,
    do_remove_mark,
    media_key,
    retention_default,
)
from ally.web.clinic.forms import add_action_error
from ally.web.clinic.roles import staff_context
from ally.web.ipr import media
from ally.web.ipr.access import may_play, recordings_for, reviews_as_clinician
from ally.web.ipr.forms import MarkForm, TranscriptForm, UploadForm, clock, retention_choice
from ally.web.ipr.link import link_url
from ally.web.ipr.models import Mark, RecallEvent, Recording
from ally.web.ipr.serving import media_response
from ally.web.ipr.timeline import Reviews, alliance_at, core_mark, lanes, reviews_of
from ally.web.ipr.upload import SealingUploadHandler
from ally.web.members import member_view
from ally.web.practice.models import Session
from ally.web.respond.links import qr_svg
from ally.web.scoping import Capability, can, check_can, check_can_record, get_scoped_or_404


def _recording(request: HttpRequest, pk: int) -> Recording:
    rows = recordings_for(request.membership).select_related(
        "session", "episode__client", "organisation"
    )
    return get_scoped_or_404(rows, request.membership, pk=pk)


def _upload_problem(problem: str) -> str:
    if problem == "too_large":
        return _(
            "This file is larger than %(mb)s MB, the most Ally takes. Shorten the recording, or "
            "save the audio only, and upload it again."
        ) % {"mb": settings.ALLY_RECORDING_MAX_MB}
    if problem == "empty":
        return _("This file is empty.")
    return _(
        "This file is not a recording Ally can play: choose an audio or video file (WAV, MP3, "
        "MP4, M4A, WebM, Ogg or FLAC)."
    )


@member_view()
def _session_recordings(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    """A session's recordings; writers on the episode attach one (encrypted as it arrives)."""
    membership = request.membership
    session = get_scoped_or_404(
        Session.objects.select_related("episode__client"), membership, pk=pk
    )
    today = timezone.localdate()
    form = UploadForm(initial={"retention_until": retention_default(today)})
    bounds = {"min": retention_choice(today, today)["min"]}
    status = 200
    if request.method == "POST":
        if session.episode is None:
            raise Http404("Not found.")
        check_can_record(membership, session.episode)
        # Encrypted while it streams in; the CSRF check reads the form, so it runs after.
        handler = SealingUploadHandler(request)
        request.upload_handlers = [handler]
        response = csrf_protect(_receive)(request, org, session, handler)
        if response is not None:
            return response
        form = UploadForm(request.POST, request.FILES)
        status = 400
        if handler.problem:
            form.is_valid()
            form.errors.pop("media", None)
            form.add_error("media", _upload_problem(handler.problem))
        else:
            form.is_valid()
    form.fields["retention_until"].widget.attrs.update(bounds)
    recordings = recordings_for(membership).filter(session=session)
    return render(
        request,
        "ipr/session.html",
        staff_context(
            request,
            org,
            session=session,
            episode=session.episode,
            recordings=recordings,
            form=form,
            writable=session.episode is not None
            and reviews_as_clinician(membership, session.episode),
            max_mb=settings.ALLY_RECORDING_MAX_MB,
        ),
        status=status,
    )


session_recordings: Any = csrf_exempt(_session_recordings)
"""The CSRF check runs inside, once the upload handler is in place (Django's upload docs)."""


def _receive(
    request: HttpRequest, org: str, session: Session, handler: SealingUploadHandler
) -> HttpResponse | None:
    """Store the upload (None when the form needs another look; the file is dropped then)."""
    form = UploadForm(request.POST, request.FILES)
    upload = request.FILES.get("media")
    if handler.problem or upload is None or not form.is_valid():
        media.delete(handler.file_id)
        return None
    try:
        recording = do_attach_recording(
            session,
            file_id=handler.file_id,
            file_key=handler.file_key,
            media_type=upload.media_type,
            size=upload.size,
            retention_until=form.cleaned_data["retention_until"],
            actor=request.membership,
        )
    except IprActionError as exc:
        media.delete(handler.file_id)
        messages.error(request, str(exc))
        return redirect("ipr:session", org=org, pk=session.pk)
    messages.success(request, _("The recording is stored, encrypted. Ask the client for consent."))
    return redirect("ipr:recording", org=org, pk=recording.pk)


def _words_of(marks: list[Any], show: bool) -> list[tuple[Any, dict[str, str]]]:
    return [(m, m.words() if show else {}) for m in marks]


def _page(
    request: HttpRequest,
    org: str,
    recording: Recording,
    mark_form: MarkForm | None = None,
    transcript_form: TranscriptForm | None = None,
) -> dict[str, Any]:
    membership = request.membership
    reviewer = reviews_as_clinician(membership, recording.episode)
    reviews = reviews_of(recording)
    # A rater sees the other's marks once both are finished; a supervisor or a researcher is
    # no rater, and sees both.
    side_by_side = reviews.both_finished or not reviewer
    words = can(membership, Capability.PLAY_RECORDINGS)
    own_open = reviewer and not (reviews.clinician and reviews.clinician.is_finished)
    event = RecallEvent.objects.filter(recording=recording).first()
    length = max([m.end for m in reviews.client_marks + reviews.clinician_marks] or [0])
    link = link_url(recording) if reviewer and recording.has_media else ""
    return staff_context(
        request,
        org,
        recording=recording,
        episode=recording.episode,
        session=recording.session,
        reviewer=reviewer,
        reviews=reviews,
        playable=may_play(membership, recording) and recording.has_media,
        side_by_side=side_by_side,
        own_marks=_words_of(reviews.clinician_marks, words) if reviewer else [],
        client_moments=_words_of(reviews.moments(Rater.CLIENT), words) if side_by_side else [],
        clinician_moments=(
            _words_of(reviews.moments(Rater.CLINICIAN), words) if side_by_side else []
        ),
        client_event_marks=(
            _words_of(reviews.event_marks(Rater.CLIENT), words) if side_by_side else []
        ),
        clinician_event_marks=(
            _words_of(reviews.event_marks(Rater.CLINICIAN), words) if side_by_side else []
        ),
        event=event,
        event_words=event.words() if event and words and side_by_side else {},
        own_open=own_open and bool(recording.consent),
        mark_form=mark_form or MarkForm(client=False, event=event is not None, prefix="mark"),
        transcript_form=transcript_form or TranscriptForm(),
        agreement=reviews.agreement(recording),
        alliance=alliance_at(membership, recording) if side_by_side else [],
        lanes=lanes(reviews, length) if side_by_side else None,
        link=link,
        qr=qr_svg(link) if link else "",
        words=words,
    )


@member_view()
def recording_page(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    """The recording: the player, the clinician's review while it is blind, and both reviews
    side by side once both are finished (or for a supervisor or researcher the consent lets in).
    """
    return render(request, "ipr/recording.html", _page(request, org, _recording(request, pk)))


def _as_reviewer(request: HttpRequest, pk: int) -> Recording:
    """The recording, for one of its episode's clinicians (403 for anyone else who sees it);
    then POST only."""
    recording = _recording(request, pk)
    if not reviews_as_clinician(request.membership, recording.episode):
        raise PermissionDenied(_("Only the episode's clinicians do this."))
    return recording


@member_view()
def review(request: HttpRequest, org: str, pk: int) -> HttpResponseBase:
    """The clinician's review: add or remove a mark, or finish (POST only)."""
    membership = request.membership
    recording = _as_reviewer(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    action = request.POST.get("action", "")
    event = RecallEvent.objects.filter(recording=recording).exists()
    form = MarkForm(request.POST, client=False, event=event, prefix="mark")
    try:
        if action == "mark":
            if not form.is_valid():
                return render(
                    request, "ipr/recording.html", _page(request, org, recording, form), status=400
                )
            data = form.cleaned_data
            do_add_mark(
                recording,
                Rater.CLINICIAN,
                start=data["start"],
                end=data["end"],
                kind=data["kind"],
                rating=data["rating"],
                part=data.get("part") or "",
                answers=data,
                actor=membership,
            )
            messages.success(
                request, _("The mark at %(time)s is saved.") % {"time": clock(data["start"])}
            )
        elif action == "remove":
            mark = get_scoped_or_404(
                Mark.objects.filter(review__recording=recording, review__rater=Rater.CLINICIAN),
                membership,
                pk=request.POST.get("mark"),
            )
            do_remove_mark(mark, actor=membership)
            messages.success(request, _("The mark is removed."))
        elif action == "finish":
            do_finish_review(recording, Rater.CLINICIAN, actor=membership)
            messages.success(
                request,
                _("Your review is finished. The client's marks are shown once they finish too.")
                if not both_finished(recording)
                else _("Both reviews are finished: they are shown side by side."),
            )
    except IprActionError as exc:
        if action == "mark" and exc.field:
            add_action_error(form, exc)
            return render(
                request, "ipr/recording.html", _page(request, org, recording, form), status=400
            )
        messages.error(request, str(exc))
    return redirect("ipr:recording", org=org, pk=recording.pk)


@member_view()
def attach_transcript(request: HttpRequest, org: str, pk: int) -> HttpResponseBase:
    """Attach a WebVTT transcript (POST only), shown in step with the player."""
    recording = _as_reviewer(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = TranscriptForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["transcript"]
        try:
            text = upload.read(LONGEST_TRANSCRIPT + 1).decode("utf-8")
            do_attach_transcript(recording, text, actor=request.membership)
        except UnicodeDecodeError:
            form.add_error("transcript", _("This file is not text in UTF-8, as WebVTT is."))
        except IprActionError as exc:
            add_action_error(form, exc)
        else:
            messages.success(request, _("The transcript is attached."))
            return redirect("ipr:recording", org=org, pk=recording.pk)
    return render(
        request,
        "ipr/recording.html",
        _page(request, org, recording, transcript_form=form),
        status=400,
    )


@member_view()
def delete_media(request: HttpRequest, org: str, pk: int) -> HttpResponseBase:
    """Delete the media and transcript now; the marks stay (POST only)."""
    recording = _as_reviewer(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    do_delete_media(recording, actor=request.membership)
    messages.success(request, _("The recording is deleted; its marks are kept."))
    return redirect("ipr:recording", org=org, pk=recording.pk)


def _playable(request: HttpRequest, pk: int) -> Recording:
    check_can(request.membership, Capability.PLAY_RECORDINGS)
    recording = _recording(request, pk)
    if not (may_play(request.membership, recording) and recording.has_media):
        raise Http404("Not found.")
    return recording


def _audit_play(request: HttpRequest, recording: Recording, what: str) -> None:
    """One entry per playing (the first request of it), not one per range the player asks."""
    request.audit_recorded = True
    if request.headers.get("Range", "bytes=0-").startswith("bytes=0-"):
        audit.record_event(
            what,
            actor=request.membership,
            organisation_id=recording.organisation_id,
            target_type="ipr.recording",
            target_id=str(recording.pk),
        )


@member_view()
def media_file(request: HttpRequest, org: str, pk: int) -> HttpResponseBase:
    """The recording's media, decrypted as it streams, with range requests for seeking."""
    recording = _playable(request, pk)
    _audit_play(request, recording, "recording.played")
    return media_response(
        request,
        file_id=recording.file_id,
        key=media_key(recording),
        size=recording.size,
        media_type=recording.media_type,
    )


def transcript_response(recording: Recording) -> HttpResponse:
    if not recording.has_transcript:
        raise Http404("Not found.")
    response = HttpResponse(recording.words()["transcript"], content_type="text/vtt; charset=utf-8")
    response["Cache-Control"] = "private, no-store"
    return response


@member_view()
def transcript(request: HttpRequest, org: str, pk: int) -> HttpResponseBase:
    """The transcript for the player's <track>."""
    recording = _playable(request, pk)
    _audit_play(request, recording, "recording.transcript_read")
    return transcript_response(recording)


# Exports: times, kinds and ratings only; no names, no words ------------------------------------


def _finished(request: HttpRequest) -> list[tuple[Recording, Reviews]]:
    rows = recordings_for(request.membership).order_by("pk")
    found = []
    for recording in rows:
        reviews = reviews_of(recording)
        if reviews.both_finished:
            found.append((recording, reviews))
    return found


@member_view()
def marks_csv(request: HttpRequest, org: str) -> HttpResponse:
    """Every finished pair of reviews this member may reach, one mark a row, in the columns
    `ally ipr agreement` reads (recording is the recording's key; no names, no words)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*COLUMNS, "part"])
    for recording, reviews in _finished(request):
        for rater, marks in (
            (Rater.CLIENT, reviews.client_marks),
            (Rater.CLINICIAN, reviews.clinician_marks),
        ):
            for mark in marks:
                writer.writerow(
                    [
                        recording.pk,
                        rater.value,
                        mark.start,
                        mark.end,
                        mark.kind,
                        mark.rating or "",
                        mark.part,
                    ]
                )
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="ipr-marks.csv"'
    audit.record_event(
        "ipr.marks_exported",
        actor=request.membership,
        organisation_id=request.membership.organisation_id,
        target_type="ipr.marks",
    )
    request.audit_recorded = True
    return response


@member_view()
def eaf(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    """One recording's two finished reviews as an ELAN file (moments only; no names, no words)."""
    recording = _recording(request, pk)
    reviews = reviews_of(recording)
    if not reviews.both_finished:
        raise Http404("Not found.")
    name = str(recording.pk)
    marks = [core_mark(m, Rater.CLIENT, name) for m in reviews.moments(Rater.CLIENT)]
    marks += [core_mark(m, Rater.CLINICIAN, name) for m in reviews.moments(Rater.CLINICIAN)]
    response = HttpResponse(
        eaf_document(marks, created=timezone.now()), content_type="application/xml; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="recording-{recording.pk}.eaf"'
    return response
