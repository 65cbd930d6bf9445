"""The members page: each member's sign-in security, for the practice's administrators.

Locked or not, second factor set up or not, last sign-in; an administrator unlocks a locked
account and resets a lost second factor here (each audited). Only members of the
administrator's own organisation are listed or reachable (scoped).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from ally.web.accounts import lockout
from ally.web.accounts.models import SealedTOTPDevice
from ally.web.actions.accounts import (
    AccountActionError,
    do_reset_second_factor,
    do_sign_out_member,
    do_unlock,
)
from ally.web.clinic.roles import post_only, staff_context
from ally.web.members import member_view
from ally.web.practice.models import Membership
from ally.web.scoping import Capability, get_scoped_or_404, roles_with, scoped


@dataclass(frozen=True)
class MemberSecurity:
    membership: Membership
    failures: int
    locked: bool
    two_factor: bool


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
        )
        for m in rows
    ]
    minutes = int(lockout.cool_off().total_seconds() // 60)
    context = staff_context(request, org, members=security, limit=limit, minutes=minutes)
    return render(request, "accounts/members.html", context)


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
