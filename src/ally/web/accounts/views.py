"""Where a signed-in member lands: their organisation's start page."""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from ally.web.practice.models import Membership


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    memberships = (
        Membership.objects.filter(user=request.user, is_active=True)
        .select_related("organisation")
        .order_by("organisation__name")
    )
    if len(memberships) == 1:
        return redirect("clinic:home", org=memberships[0].organisation.slug)
    return render(request, "accounts/organisations.html", {"memberships": memberships})
