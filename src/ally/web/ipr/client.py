"""The client's side of IPR, under /a/recall/: consent to the recording's use, then their own
blind review of it, and the event of the session they name.

The link's grant is the only authority, as on every client page; the client's words go into
sealed rows only, never into a URL, a log line or the session.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from ally.ipr.marks import Rater
from ally.web.actions.ipr import (
    IprActionError,
    both_finished,
    do_add_mark,
    do_finish_review,
    do_give_consent,
    do_name_event,
    do_remove_mark,
    do_withdraw_consent,
    media_key,
)
from ally.web.clinic.forms import add_action_error
from ally.web.ipr.forms import ConsentForm, EventForm, MarkForm, clock, retention_choice
from ally.web.ipr.link import grant, granted, recording_of_link
from ally.web.ipr.models import Mark, RecallEvent, Recording
from ally.web.ipr.serving import media_response
from ally.web.ipr.timeline import reviews_of
from ally.web.ipr.views import transcript_response
from ally.web.respond.views import LINK_REFERRER_POLICY, PAGE_REFERRER_POLICY, client_page
from ally.web.vocabulary import speak_as

ACTIONS = ("consent", "refuse", "withdraw", "mark", "remove", "finish", "event")


@client_page(LINK_REFERRER_POLICY)
def open_link(request: HttpRequest, signed: str) -> HttpResponseBase:
    """Check the link, move its grant into a fresh session, and clean the address bar."""
    recording = recording_of_link(signed)
    if recording is False:
        return render(request, "ipr/client_notice.html", {"kind": "old"}, status=410)
    if recording is None or not isinstance(recording, Recording):
        return render(request, "ipr/client_notice.html", {"kind": "bad"}, status=404)
    grant(request.session, recording)
    return redirect("ipr_client:recording")


def _granted(request: HttpRequest) -> Recording | None:
    """The recording this visit's link granted; its practice's words for the page."""
    recording = granted(request.session)
    if recording is not None:
        speak_as(recording.organisation)
    return recording


def _context(recording: Recording, forms: dict[str, Any] | None = None) -> dict[str, Any]:
    reviews = reviews_of(recording)
    mine = reviews.client
    finished = bool(mine and mine.is_finished)
    event = RecallEvent.objects.filter(recording=recording).first()
    today = timezone.localdate()
    forms = forms or {}
    both = reviews.both_finished
    consent = forms.get("consent") or ConsentForm(
        prefix="consent", initial={"retention_until": recording.retention_until}
    )
    # The date picker offers tomorrow to the day the practitioner proposed.
    consent.fields["retention_until"].widget.attrs.update(
        retention_choice(today, recording.retention_until)
    )
    return {
        "organisation": recording.organisation,
        "recording": recording,
        "language_next": reverse("ipr_client:recording"),
        "consent_form": consent,
        "mark_form": forms.get("mark")
        or MarkForm(client=True, event=event is not None, prefix="mark"),
        "event_form": forms.get("event")
        or EventForm(
            prefix="event",
            initial={"kind": event.kind, "rating": event.rating, **event.words()} if event else {},
        ),
        "event": event,
        "own_marks": [(m, m.words()) for m in reviews.client_marks],
        "finished": finished,
        "both_finished": both,
        # The practitioner's marks stay hidden until both reviews are finished.
        "their_marks": [(m, {}) for m in reviews.clinician_marks] if both else [],
        "playable": bool(recording.consent) and recording.has_media,
    }


@client_page(PAGE_REFERRER_POLICY, ("GET", "HEAD", "POST"))
def recording_page(request: HttpRequest) -> HttpResponse:
    recording = _granted(request)
    if recording is None:
        return render(request, "ipr/client_notice.html", {"kind": "none"}, status=403)
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action in ACTIONS:
            failed = _act(request, recording, action)
            if failed is None:
                return redirect("ipr_client:recording")
            recording.refresh_from_db()
            return render(
                request, "ipr/client_recording.html", _context(recording, failed), status=400
            )
    return render(request, "ipr/client_recording.html", _context(recording))


def _act(request: HttpRequest, recording: Recording, action: str) -> dict[str, Any] | None:
    """Carry out one posted action: None on success, or the forms with errors."""
    event = RecallEvent.objects.filter(recording=recording).exists()
    if action == "consent":
        form: Any = ConsentForm(request.POST, prefix="consent")
        if form.is_valid():
            try:
                do_give_consent(
                    recording, form.cleaned_data["scope"], form.cleaned_data["retention_until"]
                )
                messages.success(request, _("Thank you. You can now replay the recording."))
                return None
            except IprActionError as exc:
                add_action_error(form, exc)
        return {"consent": form}
    if action in ("refuse", "withdraw"):
        do_withdraw_consent(recording)
        messages.success(request, _("The recording is deleted. Nobody can replay it."))
        return None
    try:
        if action == "mark":
            form = MarkForm(request.POST, client=True, event=event, prefix="mark")
            if not form.is_valid():
                return {"mark": form}
            data = form.cleaned_data
            try:
                do_add_mark(
                    recording,
                    Rater.CLIENT,
                    start=data["start"],
                    end=data["end"],
                    kind=data["kind"],
                    rating=data["rating"],
                    part=data.get("part") or "",
                    answers=data,
                    actor=None,
                )
            except IprActionError as exc:
                if not exc.field:
                    raise
                add_action_error(form, exc)
                return {"mark": form}
            messages.success(
                request, _("Your mark at %(time)s is saved.") % {"time": clock(data["start"])}
            )
        elif action == "remove":
            mark = Mark.objects.filter(
                review__recording=recording, review__rater=Rater.CLIENT, pk=request.POST.get("mark")
            ).first()
            if mark is not None:
                do_remove_mark(mark, actor=None)
                messages.success(request, _("The mark is removed."))
        elif action == "finish":
            do_finish_review(recording, Rater.CLIENT, actor=None)
            messages.success(
                request,
                _("Thank you: your review is finished.")
                + " "
                + (
                    _("Your practitioner has finished too; their marks are shown below.")
                    if both_finished(recording)
                    else _("Your practitioner's marks are shown here once they have finished too.")
                ),
            )
        elif action == "event":
            form = EventForm(request.POST, prefix="event")
            if not form.is_valid():
                return {"event": form}
            data = form.cleaned_data
            try:
                do_name_event(
                    recording,
                    kind=data["kind"],
                    rating=data["rating"],
                    what=data["what"],
                    then=data["then"],
                )
            except IprActionError as exc:
                add_action_error(form, exc)
                return {"event": form}
            messages.success(request, _("Thank you: the event is saved."))
    except IprActionError as exc:
        messages.error(request, str(exc))
    return None


def _granted_media(request: HttpRequest) -> Recording:
    recording = granted(request.session)
    if recording is None or not recording.consent or not recording.has_media:
        raise Http404("Not found.")
    return recording


@client_page(PAGE_REFERRER_POLICY)
def media_file(request: HttpRequest) -> HttpResponseBase:
    recording = _granted_media(request)
    return media_response(
        request,
        file_id=recording.file_id,
        key=media_key(recording),
        size=recording.size,
        media_type=recording.media_type,
    )


@client_page(PAGE_REFERRER_POLICY)
def transcript(request: HttpRequest) -> HttpResponseBase:
    return transcript_response(_granted_media(request))
