"""Sessions: schedule the next one, and record whether it was attended, missed or cancelled.

Either way the session's forms follow the plan (collect/planning.py), through the actions.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ally.web.actions.practice import (
    PracticeActionError,
    do_record_session_status,
    do_schedule_session,
)
from ally.web.clinic.episodes import episode_of
from ally.web.clinic.forms import SessionForm, SessionStatusForm, add_action_error
from ally.web.clinic.labels import SESSION_STATUS_WORDS, word
from ally.web.clinic.roles import WRITERS, post_only, staff_context
from ally.web.members import member_view
from ally.web.practice.models import Session
from ally.web.scoping import get_scoped_or_404


def _at_session(org: str, session: Session) -> HttpResponse:
    url = reverse("clinic:episode", kwargs={"org": org, "pk": session.episode_id})
    return redirect(f"{url}#session-{session.pk}")


@member_view(roles=WRITERS)
def session_new(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    membership = request.membership
    episode = episode_of(request, pk)
    form = SessionForm(request.POST or None, membership=membership, default=episode.clinician)
    if request.method == "POST" and form.is_valid():
        try:
            session = do_schedule_session(
                episode,
                form.cleaned_data["scheduled_at"],
                clinician=form.cleaned_data["clinician"],
                actor=membership,
            )
        except PracticeActionError as exc:
            add_action_error(form, exc)
        else:
            count = session.administrations.count()
            messages.success(
                request,
                ngettext(
                    "Session %(number)d scheduled, with %(count)d form from the plan.",
                    "Session %(number)d scheduled, with %(count)d forms from the plan.",
                    count,
                )
                % {"number": session.number, "count": count},
            )
            return _at_session(org, session)
    return render(
        request,
        "clinic/session_new.html",
        staff_context(request, org, episode=episode, form=form),
        status=400 if form.errors else 200,
    )


@member_view(roles=WRITERS)
@post_only
def session_status(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    membership = request.membership
    session = get_scoped_or_404(
        Session.objects.select_related("episode"), membership, pk=pk, episode__isnull=False
    )
    form = SessionStatusForm(request.POST, prefix=f"session-{session.pk}")
    if not form.is_valid():
        messages.error(request, _("Choose the session's status from the list, then record it."))
        return _at_session(org, session)
    try:
        session = do_record_session_status(session, form.cleaned_data["status"], actor=membership)
    except PracticeActionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("Session %(number)s: %(status)s.")
            % {"number": session.number, "status": word(SESSION_STATUS_WORDS, session.status)},
        )
    return _at_session(org, session)
