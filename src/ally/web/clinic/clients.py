"""A new client: their code, their contact details and their first episode, in one form."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from ally.web.actions.practice import PracticeActionError, do_create_client_with_episode
from ally.web.clinic.forms import NewClientForm, add_action_error
from ally.web.clinic.roles import WRITERS, staff_context
from ally.web.members import member_view
from ally.web.practice.models import Episode
from ally.web.scoping import scoped


@member_view(roles=WRITERS)
def client_new(request: HttpRequest, org: str) -> HttpResponse:
    membership = request.membership
    form = NewClientForm(request.POST or None, membership=membership)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            episode = do_create_client_with_episode(
                membership.organisation,
                data["code"],
                name=data["name"],
                email=data["email"],
                phone=data["phone"],
                clinician=data["clinician"],
                opened_on=data["opened_on"],
                actor=membership,
            )
        except PracticeActionError as exc:
            add_action_error(form, exc)
        else:
            messages.success(
                request,
                _("Client %(code)s added and their episode opened. Next: plan the measures.")
                % {"code": episode.client.code},
            )
            if not scoped(Episode, membership).filter(pk=episode.pk).exists():
                # The episode is on a colleague's caseload, so this clinician cannot open it.
                return redirect("clinic:caseload", org=org)
            return redirect("clinic:plan", org=org, pk=episode.pk)
    status = 400 if form.errors else 200
    return render(
        request, "clinic/client_new.html", staff_context(request, org, form=form), status=status
    )
