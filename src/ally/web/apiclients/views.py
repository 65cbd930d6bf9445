"""The API clients page: an administrator registers, lists and revokes the practice's clients.

A new client's secret is shown once, in the reply to the registration, and stored only hashed;
the page says what each client may do and which episodes it reaches.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from ally.web.actions.apiclients import (
    ApiClientError,
    do_register_api_client,
    do_revoke_api_client,
)
from ally.web.api.auth import TOKEN_URL
from ally.web.apiclients.forms import RegisterForm
from ally.web.apiclients.models import ApiClient
from ally.web.clinic.roles import post_only, staff_context
from ally.web.members import member_view
from ally.web.practice.models import Membership
from ally.web.scoping import (
    RECORDS_CLINICAL_DATA,
    Capability,
    get_scoped_or_404,
    roles_with,
    scoped,
)

MANAGERS = roles_with(Capability.MANAGE_API_CLIENTS)


def _form(request: HttpRequest, *, bound: bool = True) -> RegisterForm:
    clinicians = (
        scoped(Membership, request.membership)
        .filter(is_active=True, user__is_active=True, role__in=RECORDS_CLINICAL_DATA)
        .select_related("user")
        .order_by("user__email")
    )
    return RegisterForm(request.POST if bound else None, clinicians=clinicians)


def _page(
    request: HttpRequest, org: str, form: RegisterForm, status: int = 200, **extra: object
) -> HttpResponse:
    clients = (
        scoped(ApiClient, request.membership)
        .select_related("clinician__user", "application")
        .order_by("revoked_at", "name", "pk")
    )
    token_url = request.build_absolute_uri(TOKEN_URL)
    api_url = request.build_absolute_uri(f"/api/o/{org}/episodes")
    context = staff_context(
        request, org, form=form, clients=clients, token_url=token_url, api_url=api_url, **extra
    )
    return render(request, "apiclients/clients.html", context, status=status)


@member_view(MANAGERS)
def clients(request: HttpRequest, org: str) -> HttpResponse:
    if request.method != "POST":
        return _page(request, org, _form(request, bound=False))
    form = _form(request)
    if not form.is_valid():
        return _page(request, org, form, status=400)
    data = form.cleaned_data
    try:
        registered = do_register_api_client(
            request.membership,
            name=data["name"],
            scopes=data["scopes"],
            reach=data["reach"],
            clinician=data.get("clinician"),
        )
    except ApiClientError as refused:
        form.add_error(refused.field or None, str(refused))
        return _page(request, org, form, status=400)
    # The secret is in this reply only (never stored in the clear, never in a URL); the page
    # is not cached (NoStoreMiddleware).
    return _page(request, org, _form(request, bound=False), registered=registered)


@member_view(MANAGERS)
@post_only
def revoke(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    client = get_scoped_or_404(ApiClient, request.membership, pk=pk)
    try:
        do_revoke_api_client(request.membership, client)
    except ApiClientError as refused:
        messages.error(request, str(refused))
    else:
        messages.success(
            request,
            _("%(client)s is revoked: its credentials and tokens no longer work.")
            % {"client": client.name},
        )
    return redirect("apiclients:list", org=org)
