"""The privacy pages: a client's export and erasure (or a documented refusal), the erasure
register and the practice's erasure policy.

Views that name a client find it through the scoping rules first (another organisation's or
another clinician's client is a 404), then check the role (403), then the method (405), so a URL
never tells whether a client exists beyond what the member may see.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ally.web.actions.privacy import (
    ERASERS,
    EXPORTERS,
    PrivacyActionError,
    do_erase_client,
    do_refuse_erasure,
    do_set_erasure_policy,
)
from ally.web.alerts.models import Alert
from ally.web.clinic.forms import add_action_error
from ally.web.clinic.roles import staff_context
from ally.web.collect.models import Administration, Amendment, Response
from ally.web.members import member_view
from ally.web.practice.models import Client, ClientIdentity, Episode, Membership, Session
from ally.web.privacy.erasure import rows_about
from ally.web.privacy.export import export_client, file_name
from ally.web.privacy.forms import EraseForm, PolicyForm, RefuseForm
from ally.web.privacy.models import ErasureRecord, ErasureRefusal
from ally.web.scoping import Role, get_scoped_or_404, scoped

READ = ("GET", "HEAD")


def _client_for(request: HttpRequest, pk: int, roles: Collection[Role]) -> Client:
    """The client, if the member sees them (else 404) and their role may do this (else 403)."""
    membership: Membership = request.membership
    client = get_scoped_or_404(Client.objects.select_related("organisation"), membership, pk=pk)
    if Role(membership.role) not in roles:
        raise PermissionDenied(_("Your role does not give access to this page."))
    return client


def _page(
    request: HttpRequest, org: str, client: Client, status: int = 200, **forms: Any
) -> HttpResponse:
    membership: Membership = request.membership
    admin = Role(membership.role) in ERASERS
    context = staff_context(
        request,
        org,
        client=client,
        identity=scoped(ClientIdentity, membership).filter(client=client).first(),
        episodes=scoped(Episode, membership).filter(client=client).order_by("-opened_on"),
        may_erase=admin,
        refusals=(
            scoped(ErasureRefusal, membership)
            .filter(client=client)
            .select_related("decided_by__user")
            .order_by("-decided_at")
            if admin
            else []
        ),
        refuse_form=forms.get("refuse_form") or RefuseForm(),
    )
    return render(request, "privacy/client.html", context, status=status)


@member_view()
def client(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    """The client's privacy page: their export, and for administrators erasure or refusal."""
    chosen = _client_for(request, pk, EXPORTERS)
    if request.method not in READ:
        return HttpResponseNotAllowed(READ)
    return _page(request, org, chosen)


@member_view()
def export(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    """The client's data as a ZIP (a page and JSON), named by the client's key only."""
    chosen = _client_for(request, pk, EXPORTERS)
    if request.method not in READ:
        return HttpResponseNotAllowed(READ)
    response = HttpResponse(
        export_client(chosen, membership=request.membership), content_type="application/zip"
    )
    response["Content-Disposition"] = f'attachment; filename="{file_name(chosen)}"'
    add_never_cache_headers(response)
    return response


# What the confirmation page counts, in the administrator's words.
ERASED_KINDS = (
    (Episode, gettext_lazy("Episodes")),
    (Session, gettext_lazy("Sessions")),
    (Administration, gettext_lazy("Questionnaires")),
    (Response, gettext_lazy("Answer sets")),
    (Amendment, gettext_lazy("Corrections of answers")),
    (Alert, gettext_lazy("Alerts")),
)


@member_view()
def erase(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    """Confirm, then erase the client and everything about them."""
    chosen = _client_for(request, pk, ERASERS)
    membership: Membership = request.membership
    posted = request.method == "POST"
    form = EraseForm(request.POST if posted else None, client_code=chosen.code)
    if posted and form.is_valid():
        do_erase_client(chosen, actor=membership)
        messages.success(
            request,
            _("Client %(code)s was erased. The register below keeps the erasure, keys only.")
            % {"code": chosen.code},
        )
        return redirect("privacy:register", org=org)
    found = dict(rows_about(chosen))
    counts = [(words, len(found.get(model, ()))) for model, words in ERASED_KINDS]
    context = staff_context(
        request,
        org,
        client=chosen,
        form=form,
        counts=counts,
        refusals=scoped(ErasureRefusal, membership).filter(client=chosen).exists(),
    )
    return render(request, "privacy/erase.html", context, status=400 if form.errors else 200)


@member_view()
def refuse(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    """Decline a request for erasure, citing an exemption of Art. 17(3) and the reason."""
    chosen = _client_for(request, pk, ERASERS)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = RefuseForm(request.POST)
    if form.is_valid():
        try:
            do_refuse_erasure(
                chosen,
                form.cleaned_data["exemption"],
                form.cleaned_data["reason"],
                actor=request.membership,
            )
        except PrivacyActionError as exc:
            add_action_error(form, exc)
        else:
            messages.success(request, _("The refusal and its reason are recorded."))
            return redirect("privacy:client", org=org, pk=chosen.pk)
    return _page(request, org, chosen, status=400, refuse_form=form)


@member_view(roles=ERASERS)
def register(request: HttpRequest, org: str) -> HttpResponse:
    """The erasure register and the refusals, with the practice's erasure policy."""
    membership: Membership = request.membership
    context = staff_context(
        request,
        org,
        erasures=scoped(ErasureRecord, membership)
        .select_related("erased_by__user")
        .order_by("-erased_at"),
        refusals=scoped(ErasureRefusal, membership)
        .select_related("client", "decided_by__user")
        .order_by("-decided_at"),
    )
    return render(request, "privacy/register.html", context)


@member_view(roles=ERASERS)
def policy(request: HttpRequest, org: str) -> HttpResponse:
    """The practice's documented answer to requests for erasure."""
    membership: Membership = request.membership
    organisation = membership.organisation
    form = PolicyForm(request.POST or None, initial={"policy": organisation.erasure_policy})
    if request.method == "POST" and form.is_valid():
        do_set_erasure_policy(organisation, form.cleaned_data["policy"], actor=membership)
        messages.success(request, _("The erasure policy is saved."))
        return redirect("privacy:register", org=org)
    context = staff_context(request, org, form=form)
    return render(request, "privacy/policy.html", context, status=400 if form.errors else 200)
