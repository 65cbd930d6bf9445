"""Where a signed-in member lands: their organisation's start page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from ally.web.practice.models import Membership


@login_required
def home(request: HttpRequest) -> HttpResponse:
    memberships = (
        Membership.objects.filter(user=request.user, is_active=True)
        .select_related("organisation")
        .order_by("organisation__name")
    )
    if len(memberships) == 1:
        return redirect("clinic:home", org=memberships[0].organisation.slug)
    return render(request, "accounts/organisations.html", {"memberships": memberships})
