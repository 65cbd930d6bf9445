"""The practice's public page (/p/<slug>/) and its editing: the practice's text by its
administrators (/o/<org>/profile/), each member's own profile by them (/o/<org>/profile/me/).

The public page names only the members who chose to be on it, and says nothing of clients. The
client's pages link to it, so that the client knows who is asking.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _

from ally.web.actions.members import (
    PROFILE_MAX_LENGTH,
    MemberActionError,
    do_edit_own_profile,
    do_edit_practice_page,
)
from ally.web.clinic.forms import add_action_error
from ally.web.clinic.roles import staff_context
from ally.web.members import member_view
from ally.web.practice.models import Membership, Organisation
from ally.web.scoping import Capability, Role, roles_with
from ally.web.vocabulary import speak_as

LISTED_ROLES = (Role.ADMIN, Role.CLINICIAN, Role.SUPERVISOR)
"""Members who may appear on the public page: those who work with clients or run the
practice (a researcher does neither)."""


class PracticePageForm(forms.Form):
    offers = forms.CharField(
        label=_("What the practice offers"),
        max_length=PROFILE_MAX_LENGTH,
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    feedback_and_data = forms.CharField(
        label=_("How the practice uses feedback and protects data"),
        max_length=PROFILE_MAX_LENGTH,
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("Leave empty to show Ally's own account of it."),
    )


class OwnProfileForm(forms.Form):
    profile = forms.CharField(
        label=_("Your short profile"),
        max_length=PROFILE_MAX_LENGTH,
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("How you work, your training, what clients can expect. A few sentences."),
    )
    on_public_page = forms.BooleanField(
        label=_("Name me and show my profile on the practice's public page"), required=False
    )


def public_page(request: HttpRequest, slug: str) -> HttpResponse:
    organisation = Organisation.objects.filter(slug=slug).first()
    if organisation is None:
        raise Http404("Not found.")
    speak_as(organisation)
    team = (
        Membership.objects.filter(
            organisation=organisation,
            is_active=True,
            user__is_active=True,
            on_public_page=True,
            role__in=[str(r) for r in LISTED_ROLES],
        )
        .select_related("user")
        .order_by("user__display_name", "user__email")
    )
    return render(request, "profiles/public.html", {"organisation": organisation, "team": team})


@member_view(roles_with(Capability.MANAGE_MEMBERS))
def practice_page(request: HttpRequest, org: str) -> HttpResponse:
    organisation = request.membership.organisation
    form = PracticePageForm(
        request.POST or None,
        initial={
            "offers": organisation.offers,
            "feedback_and_data": organisation.feedback_and_data,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            do_edit_practice_page(request.membership, **form.cleaned_data)
        except MemberActionError as refused:
            add_action_error(form, refused)
        else:
            messages.success(request, _("Saved: the public page shows it now."))
            return redirect("profiles:practice", org=org)
    context = staff_context(request, org, form=form)
    return render(request, "profiles/practice.html", context, status=400 if form.errors else 200)


@member_view()
def own_profile(request: HttpRequest, org: str) -> HttpResponse:
    membership = request.membership
    listed = Role(membership.role) in LISTED_ROLES
    if request.method == "POST" and not listed:
        raise PermissionDenied(_("Your role is not shown on the practice's public page."))
    form = OwnProfileForm(
        request.POST or None,
        initial={"profile": membership.profile, "on_public_page": membership.on_public_page},
    )
    if request.method == "POST" and form.is_valid():
        try:
            do_edit_own_profile(membership, **form.cleaned_data)
        except MemberActionError as refused:
            add_action_error(form, refused)
        else:
            messages.success(request, _("Saved."))
            return redirect("profiles:mine", org=org)
    context = staff_context(request, org, form=form, listed=listed)
    return render(request, "profiles/mine.html", context, status=400 if form.errors else 200)
