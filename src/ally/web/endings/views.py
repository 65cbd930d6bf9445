"""The staff's page of an ending, under /o/<org>/episodes/<pk>/ending/: what it sent and how the
client answered, the follow-up, and the closing summary to write or rewrite."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from ally.web.actions.endings import EndingActionError, do_write_closing_summary
from ally.web.clinic.episodes import episode_of
from ally.web.clinic.forms import add_action_error
from ally.web.clinic.roles import can_write, staff_context
from ally.web.endings.forms import ClosingSummaryForm
from ally.web.endings.summary import episode_ending
from ally.web.members import member_view
from ally.web.scoping import check_can_record


@member_view()
def ending(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    """The ending; a post (by a member who writes) keeps a new closing summary."""
    membership = request.membership
    episode = episode_of(request, pk)
    if request.method == "POST":
        check_can_record(membership, episode)  # a read-only role: 403 before anything is read
    view = episode_ending(membership, episode)
    initial = {"summary": view.summary.text} if view is not None and view.summary else {}
    form = ClosingSummaryForm(request.POST or None, initial=initial, prefix="closing")
    if request.method == "POST" and form.is_valid():
        try:
            do_write_closing_summary(episode, form.cleaned_data["summary"], actor=membership)
        except EndingActionError as exc:
            add_action_error(form, exc)
        else:
            messages.success(request, _("The closing summary is saved."))
            return redirect("endings:ending", org=org, pk=pk)
    return render(
        request,
        "endings/ending.html",
        staff_context(
            request, org, episode=episode, ending=view, form=form, writer=can_write(membership)
        ),
        status=400 if form.errors else 200,
    )
