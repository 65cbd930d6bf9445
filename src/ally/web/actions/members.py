"""The practice and its members: the first-run set-up, invitations, roles and leaving.

A practice always keeps one active administrator: no role change or removal takes away the
last one, so that someone can still invite, unlock and reset. Each change is audited in its
transaction; an invitation's email goes out once the invitation is stored.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from ally.web.accounts.models import PracticeSignOut, User, normal_email
from ally.web.audit import record
from ally.web.practice.models import (
    ClientWord,
    Invitation,
    Membership,
    Organisation,
    PracticeKind,
)
from ally.web.scoping import Capability, Role, can
from ally.web.vocabulary import in_words_of

INVITATION_SALT = "ally.members.invitation"
INVITATION_DAYS = 7
"""How long an invitation link works: long enough for a week away, short enough that an old
email in someone's archive opens nothing."""


class MemberActionError(Exception):
    """A change the rules refuse, with a message for the administrator; `field` names the form
    field it concerns ("" for the whole form)."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def _check_admin(admin: Membership, organisation_id: int) -> None:
    if admin.organisation_id != organisation_id or not admin.is_active:
        raise PermissionDenied(_("Only the practice's administrators can change its members."))
    if not can(admin, Capability.MANAGE_MEMBERS):
        raise PermissionDenied(_("Only the practice's administrators can change its members."))


def practice_needs_setting_up() -> bool:
    """A fresh install: no practice yet, so the first-run set-up page is open."""
    return not Organisation.objects.exists()


def _kind_and_word(kind: str, client_word: str) -> tuple[str, str]:
    if kind not in PracticeKind.values:
        raise MemberActionError(_("Choose whether this is a therapy or a coaching practice."))
    if client_word not in ClientWord.values:
        raise MemberActionError(_("Choose what the practice calls the people it works with."))
    return kind, client_word if kind == "coaching" else "client"


def do_set_up_practice(
    name: str,
    *,
    kind: str,
    client_word: str = "client",
    email: str,
    password: str,
    display_name: str = "",
) -> Membership:
    """The first practice of a fresh install and its first administrator, whose second factor
    is set up at once (the set-up page leads on to it). Refused once any practice exists."""
    from ally.web.validation import practice_name

    kind, client_word = _kind_and_word(kind, client_word)
    email = normal_email(email)
    try:
        validate_email(email)
    except Exception:
        raise MemberActionError(_("Give a valid email address."), field="email") from None
    with transaction.atomic():
        if not practice_needs_setting_up():
            raise MemberActionError(
                _("This Ally has a practice already; sign in, or ask its administrator.")
            )
        try:
            name = practice_name(name)
        except Exception:
            raise MemberActionError(
                _("Give the practice a name on one line."), field="name"
            ) from None
        organisation = Organisation.objects.create(
            name=name,
            slug=slugify(name)[:60] or "practice",
            kind=kind,
            client_word=client_word,
        )
        if User.objects.filter(email=email).exists():
            raise MemberActionError(
                _("An account with this address exists already; give another address."),
                field="email",
            )
        user = User.objects.create_user(email, password, display_name=display_name.strip())
        admin = Membership.objects.create(user=user, organisation=organisation, role=Role.ADMIN)
        record("practice.set_up", actor=admin, target=organisation)
        record("member.joined", actor=admin, target=admin)
    return admin


def do_change_practice_kind(
    admin: Membership, *, kind: str, client_word: str = "client"
) -> Organisation:
    """Whether the practice does therapy or coaching, and a coaching practice's word for the
    people it coaches: the pages, emails and exports speak its words from the next page on."""
    _check_admin(admin, admin.organisation_id)
    kind, client_word = _kind_and_word(kind, client_word)
    with transaction.atomic():
        organisation = Organisation.objects.select_for_update().get(pk=admin.organisation_id)
        organisation.kind, organisation.client_word = kind, client_word
        organisation.save(update_fields=["kind", "client_word"])
        record("practice.kind_changed", actor=admin, target=organisation)
    return organisation


# Invitations -------------------------------------------------------------------------------------


def invitation_token(invitation: Invitation) -> str:
    return signing.dumps(invitation.pk, salt=INVITATION_SALT)


def invitation_url(invitation: Invitation, base_url: str | None = None) -> str:
    """The full address the invitee opens (`base_url`: where the administrator reached Ally)."""
    path = reverse("invitation", kwargs={"token": invitation_token(invitation)})
    return f"{(base_url or settings.ALLY_BASE_URL).rstrip('/')}{path}"


class InvitationError(Exception):
    """A link that opens no invitation: changed, too old, used or withdrawn."""


def open_invitation(token: str, now: dt.datetime | None = None) -> Invitation:
    """The invitation a link names while it is open; InvitationError otherwise."""
    now = now or timezone.now()
    try:
        pk = signing.loads(token, salt=INVITATION_SALT, max_age=dt.timedelta(days=INVITATION_DAYS))
    except signing.BadSignature:  # SignatureExpired is one too
        raise InvitationError from None
    invitation = (
        Invitation.objects.select_related("organisation").filter(pk=pk).first()
        if isinstance(pk, int)
        else None
    )
    if invitation is None or not invitation.is_open(now):
        raise InvitationError
    return invitation


def do_invite_member(
    admin: Membership, email: str, role: str, *, base_url: str | None = None
) -> Invitation:
    """Invite `email` to the practice with `role`: an email with a signed link, open for
    INVITATION_DAYS days, where they set a password and a second factor."""
    _check_admin(admin, admin.organisation_id)
    email = normal_email(email)
    try:
        validate_email(email)
    except Exception:
        raise MemberActionError(_("Give a valid email address."), field="email") from None
    if role not in Role.values:
        raise MemberActionError(_("Choose a role."), field="role")
    organisation = admin.organisation
    if Membership.objects.filter(
        organisation=organisation, user__email=email, is_active=True
    ).exists():
        raise MemberActionError(
            _("This person is a member of the practice already."), field="email"
        )
    now = timezone.now()
    with transaction.atomic():
        # A new invitation to the same address replaces an open one.
        Invitation.objects.filter(
            organisation=organisation, email=email, accepted_at__isnull=True, withdrawn_at=None
        ).update(withdrawn_at=now)
        invitation = Invitation.objects.create(
            organisation=organisation,
            email=email,
            role=role,
            invited_by=admin,
            created_at=now,
            expires_at=now + dt.timedelta(days=INVITATION_DAYS),
        )
        record("member.invited", actor=admin, target=invitation)
        link = invitation_url(invitation, base_url)
        with in_words_of(organisation):  # the role in the practice's words: "coach"
            subject = _("You are invited to %(practice)s on Ally") % {
                "practice": " ".join(organisation.name.split())
            }
            body = _(
                "%(admin)s invites you to join %(practice)s on Ally as %(role)s.\n\n"
                "Open this link to set your password and your authenticator app; it works for "
                "%(days)s days and once:\n\n%(link)s\n\nIf you did not expect this, ignore it."
            ) % {
                "admin": admin.user,
                "practice": organisation.name,
                "role": Role(role).label,
                "days": INVITATION_DAYS,
                "link": link,
            }
        transaction.on_commit(lambda: send_mail(subject, body, None, [email], fail_silently=True))
    return invitation


def do_withdraw_invitation(admin: Membership, invitation: Invitation) -> None:
    """The link stops working."""
    _check_admin(admin, invitation.organisation_id)
    with transaction.atomic():
        if invitation.accepted_at is None and invitation.withdrawn_at is None:
            invitation.withdrawn_at = timezone.now()
            invitation.save(update_fields=["withdrawn_at"])
            record("member.invitation_withdrawn", actor=admin, target=invitation)


def do_accept_invitation(
    invitation: Invitation, *, password: str, display_name: str = ""
) -> Membership:
    """The invitee joins with the role they were invited with. A new account gets `password`;
    an existing account (the same email at another practice) must give its own password.
    Either way the second factor is asked next, at the sign-in that follows."""
    with transaction.atomic():
        locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if not locked.is_open(timezone.now()):
            raise MemberActionError(_("This invitation is no longer open; ask for a new one."))
        user = User.objects.filter(email=locked.email).first()
        if user is None:
            user = User.objects.create_user(
                locked.email, password, display_name=display_name.strip()
            )
        elif not user.check_password(password) or not user.is_active:
            raise MemberActionError(
                _(
                    "You have an Ally account with this address already: give its password "
                    "(you keep it and your authenticator app)."
                ),
                field="password",
            )
        membership = Membership.objects.filter(user=user, organisation=locked.organisation).first()
        if membership is None:
            membership = Membership.objects.create(
                user=user, organisation=locked.organisation, role=locked.role
            )
        else:  # a former member, back again
            membership.role, membership.is_active = locked.role, True
            membership.save(update_fields=["role", "is_active"])
        locked.accepted_at = timezone.now()
        locked.save(update_fields=["accepted_at"])
        record("member.joined", actor=membership, target=membership)
    return membership


# Roles and leaving -------------------------------------------------------------------------------


def _other_admins(membership: Membership) -> bool:
    return (
        Membership.objects.filter(
            organisation_id=membership.organisation_id,
            role=Role.ADMIN,
            is_active=True,
            user__is_active=True,
        )
        .exclude(pk=membership.pk)
        .exists()
    )


def _lock_admins(organisation_id: int) -> None:
    # Two administrators demoting each other at once take turns, so one always stays.
    list(
        Membership.objects.select_for_update()
        .filter(organisation_id=organisation_id, role=Role.ADMIN)
        .values_list("pk")
    )


def do_change_role(admin: Membership, membership: Membership, role: str) -> Membership:
    """A member's new role; the practice's last administrator keeps theirs."""
    _check_admin(admin, membership.organisation_id)
    if role not in Role.values:
        raise MemberActionError(_("Choose a role."), field="role")
    with transaction.atomic():
        _lock_admins(membership.organisation_id)
        locked = Membership.objects.select_for_update().get(pk=membership.pk)
        if locked.role == role:
            return locked
        if locked.role == Role.ADMIN and not _other_admins(locked):
            raise MemberActionError(
                _(
                    "%(member)s is the practice's only administrator: make another member an "
                    "administrator first."
                )
                % {"member": locked.user}
            )
        locked.role = role
        locked.save(update_fields=["role"])
        record("member.role_changed", actor=admin, target=locked)
    return locked


def do_remove_member(admin: Membership, membership: Membership) -> Membership:
    """The member leaves the practice: they can no longer sign in to it, and their sessions
    there end. Their episodes, sessions and answers stay, under their name, for the record;
    give their open episodes to a colleague. The last administrator is not removed."""
    _check_admin(admin, membership.organisation_id)
    with transaction.atomic():
        _lock_admins(membership.organisation_id)
        locked = Membership.objects.select_for_update().get(pk=membership.pk)
        if not locked.is_active:
            return locked
        if locked.role == Role.ADMIN and not _other_admins(locked):
            raise MemberActionError(
                _(
                    "%(member)s is the practice's only administrator: make another member an "
                    "administrator first."
                )
                % {"member": locked.user}
            )
        locked.is_active = False
        locked.save(update_fields=["is_active"])
        PracticeSignOut.objects.update_or_create(
            user=locked.user,
            organisation=locked.organisation,
            defaults={"signed_out_at": timezone.now()},
        )
        record("member.removed", actor=admin, target=locked)
    return locked


def open_episodes_of(membership: Membership) -> int:
    """How many open episodes the member holds (shown before removing them)."""
    return int(membership.caseload.filter(ended_on__isnull=True).count())


__all__ = [
    "INVITATION_DAYS",
    "InvitationError",
    "MemberActionError",
    "do_accept_invitation",
    "do_change_practice_kind",
    "do_change_role",
    "do_edit_own_profile",
    "do_edit_practice_page",
    "do_invite_member",
    "do_remove_member",
    "do_set_up_practice",
    "do_withdraw_invitation",
    "open_episodes_of",
    "open_invitation",
    "practice_needs_setting_up",
]


# The public page ---------------------------------------------------------------------------------

PROFILE_MAX_LENGTH = 2000


def _text(value: str, field: str) -> str:
    from ally.web.text import NOTE, TextRefusedError, clean

    try:
        value = clean(value, NOTE)
    except TextRefusedError as exc:
        raise MemberActionError(str(exc), field=field) from None
    if len(value) > PROFILE_MAX_LENGTH:
        raise MemberActionError(
            _("This is longer than %(count)s characters; shorten it.")
            % {"count": PROFILE_MAX_LENGTH},
            field=field,
        )
    return value


def do_edit_practice_page(
    admin: Membership, *, offers: str, feedback_and_data: str
) -> Organisation:
    """What the practice's public page says it offers, and how it uses feedback and protects
    data."""
    _check_admin(admin, admin.organisation_id)
    offers, feedback_and_data = _text(offers, "offers"), _text(feedback_and_data, "feedback")
    with transaction.atomic():
        organisation = Organisation.objects.select_for_update().get(pk=admin.organisation_id)
        organisation.offers, organisation.feedback_and_data = offers, feedback_and_data
        organisation.save(update_fields=["offers", "feedback_and_data"])
        record("practice.page_edited", actor=admin, target=organisation)
    return organisation


def do_edit_own_profile(member: Membership, *, profile: str, on_public_page: bool) -> Membership:
    """A member's own short profile, and whether the public page names them: theirs to choose."""
    if not member.is_active:
        raise PermissionDenied(_("Only the practice's members have a profile."))
    profile = _text(profile, "profile")
    with transaction.atomic():
        locked = Membership.objects.select_for_update().get(pk=member.pk)
        locked.profile, locked.on_public_page = profile, on_public_page
        locked.save(update_fields=["profile", "on_public_page"])
        record("member.profile_edited", actor=member, target=locked)
    return locked
