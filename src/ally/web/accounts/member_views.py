"""The members page, for the practice's administrators: who belongs, with which role, and how
each signs in.

Administrators invite members by email with a role, change roles and remove members (never the
last administrator), say whether the practice does therapy or coaching, unlock a locked account
and reset a lost second factor here (each audited). Only members of the administrator's own
organisation are listed or reachable (scoped).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from ally.web.accounts import lockout
from ally.web.accounts.forms import InviteForm, role_choices
from ally.web.accounts.models import SealedTOTPDevice
from ally.web.actions.accounts import (
    AccountActionError,
    do_reset_second_factor,
    do_sign_out_member,
    do_unlock,
)
from ally.web.actions.members import (
    MemberActionError,
    do_change_practice_kind,
    do_change_role,
    do_invite_member,
    do_remove_member,
    do_withdraw_invitation,
    open_episodes_of,
)
from ally.web.clinic.roles import post_only, staff_context
from ally.web.members import member_view
from ally.web.practice.models import ClientWord, Invitation, Membership, PracticeKind
from ally.web.respond.links import base_url
from ally.web.scoping import Capability, get_scoped_or_404, roles_with, scoped


@dataclass(frozen=True)
class MemberSecurity:
    membership: Membership
    failures: int
    locked: bool
    two_factor: bool
    open_episodes: int


MEMBER_MANAGERS = roles_with(Capability.MANAGE_MEMBERS)


@member_view(MEMBER_MANAGERS)
def members(request: HttpRequest, org: str) -> HttpResponse:
    rows = list(
        scoped(Membership, request.membership)
        .filter(is_active=True)
        .select_related("user")
        .order_by("user__email")
    )
    failed = lockout.failures(m.user.get_username() for m in rows)
    enrolled = set(
        SealedTOTPDevice.objects.filter(
            user__in=[m.user_id for m in rows], confirmed=True
        ).values_list("user_id", flat=True)
    )
    limit = settings.AXES_FAILURE_LIMIT
    security = [
        MemberSecurity(
            membership=m,
            failures=failed.get(m.user.get_username(), 0),
            locked=failed.get(m.user.get_username(), 0) >= limit,
            two_factor=m.user_id in enrolled,
            open_episodes=open_episodes_of(m),
        )
        for m in rows
    ]
    return _page(request, org, security, InviteForm())


def _page(
    request: HttpRequest, org: str, security: list[MemberSecurity], form: InviteForm
) -> HttpResponse:
    now = timezone.now()
    invitations = [
        i
        for i in scoped(Invitation, request.membership).order_by("-created_at")[:50]
        if i.is_open(now)
    ]
    context = staff_context(
        request,
        org,
        members=security,
        limit=settings.AXES_FAILURE_LIMIT,
        minutes=int(lockout.cool_off().total_seconds() // 60),
        form=form,
        invitations=invitations,
        roles=role_choices(),
        kinds=PracticeKind.choices,
        client_words=ClientWord.choices,
    )
    return render(request, "accounts/members.html", context, status=400 if form.errors else 200)


@member_view(MEMBER_MANAGERS)
@post_only
def invite(request: HttpRequest, org: str) -> HttpResponse:
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            invited = do_invite_member(
                request.membership,
                form.cleaned_data["email"],
                form.cleaned_data["role"],
                base_url=base_url(request),
            )
        except MemberActionError as refused:
            form.add_error(refused.field or None, str(refused))
        else:
            messages.success(
                request,
                _("An invitation went to %(email)s; its link works for a week.")
                % {"email": invited.email},
            )
            return redirect("members:list", org=org)
    messages.error(request, _("Nothing was sent: check the invitation form."))
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, error)
    return redirect("members:list", org=org)


@member_view(MEMBER_MANAGERS)
@post_only
def withdraw(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    invited = get_scoped_or_404(Invitation, request.membership, pk=pk)
    do_withdraw_invitation(request.membership, invited)
    messages.success(
        request, _("The invitation to %(email)s is withdrawn.") % {"email": invited.email}
    )
    return redirect("members:list", org=org)


@member_view(MEMBER_MANAGERS)
@post_only
def change_role(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    target = get_scoped_or_404(Membership, request.membership, pk=pk, is_active=True)
    try:
        changed = do_change_role(request.membership, target, request.POST.get("role", ""))
    except MemberActionError as refused:
        messages.error(request, str(refused))
    else:
        messages.success(
            request,
            _("%(member)s is now %(role)s.")
            % {"member": changed.user, "role": dict(role_choices())[changed.role]},
        )
    return redirect("members:list", org=org)


@member_view(MEMBER_MANAGERS)
@post_only
def remove(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    target = get_scoped_or_404(Membership, request.membership, pk=pk, is_active=True)
    try:
        do_remove_member(request.membership, target)
    except MemberActionError as refused:
        messages.error(request, str(refused))
    else:
        messages.success(
            request,
            _(
                "%(member)s is no longer a member: they cannot sign in to this practice, and "
                "what they recorded stays."
            )
            % {"member": target.user},
        )
    if target.user_id == request.user.pk and not target.is_active:
        return redirect("home")
    return redirect("members:list", org=org)


@member_view(MEMBER_MANAGERS)
@post_only
def practice_kind(request: HttpRequest, org: str) -> HttpResponse:
    try:
        do_change_practice_kind(
            request.membership,
            kind=request.POST.get("kind", ""),
            client_word=request.POST.get("client_word", ClientWord.CLIENT),
        )
    except MemberActionError as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, _("Saved: the practice's pages use its words now."))
    return redirect("members:list", org=org)


@member_view(MEMBER_MANAGERS)
@post_only
def unlock(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    target = get_scoped_or_404(Membership, request.membership, pk=pk)
    do_unlock(request.membership, target)
    messages.success(request, _("%(member)s can sign in again.") % {"member": target.user})
    return redirect("members:list", org=org)


@member_view(MEMBER_MANAGERS)
@post_only
def reset_two_factor(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    target = get_scoped_or_404(Membership, request.membership, pk=pk)
    try:
        code = do_reset_second_factor(request.membership, target)
    except AccountActionError as refused:
        messages.error(request, str(refused))
    else:
        messages.success(
            request,
            _(
                "%(member)s's second factor is reset: they are signed out, and set up an "
                "authenticator app at their next sign-in with their password and this setup "
                "code: %(code)s. Give it to them yourself, in person or by phone, once you know "
                "it is them; it is shown only now."
            )
            % {"member": target.user, "code": code},
        )
    return redirect("members:list", org=org)


@member_view(MEMBER_MANAGERS)
@post_only
def sign_out(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    target = get_scoped_or_404(Membership, request.membership, pk=pk)
    do_sign_out_member(request.membership, target)
    messages.success(
        request,
        _("%(member)s is signed out of this practice on every device.") % {"member": target.user},
    )
    return redirect("members:list", org=org)
