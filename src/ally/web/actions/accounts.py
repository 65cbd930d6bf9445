"""Changes to accounts and their sign-in security, each audited in its transaction.

Sign-in events of a member are audited once for each organisation they belong to, so that each
practice's administrators see them in their own log. The member is told by email when their
email address, password or second factor changes (ASVS 6.3.7), so that a change they did not
make does not go unnoticed.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ally.web.accounts import lockout
from ally.web.accounts.models import RecoveryCodes, SealedTOTPDevice, User
from ally.web.accounts.two_factor import new_recovery_codes, new_setup_code
from ally.web.audit import record
from ally.web.practice.models import Membership, Organisation
from ally.web.scoping import Capability, can
from ally.web.vocabulary import in_words_of, words_of


class AccountActionError(Exception):
    """A change the rules refuse, with a message for the person who asked."""


def record_account_event(action: str, user: User, *, by_self: bool) -> None:
    """Audit `action` on `user`'s account in each of their organisations (or once, on the user,
    when they belong to none); `by_self` names each membership as the actor."""
    memberships = list(Membership.objects.filter(user=user, is_active=True))
    with transaction.atomic():
        if not memberships:
            # request.user is a lazy wrapper, which the audit log cannot name: the row itself.
            record(action, actor=None, target=User.objects.get(pk=user.pk))
        for membership in memberships:
            record(action, actor=membership if by_self else None, target=membership)


def _their_practice(user: User) -> Organisation | None:
    """The practice whose words an email about the account speaks: the member's practices', when
    they all speak alike (a coach's account is a coach's), else Ally's first words."""
    practices = [
        m.organisation
        for m in Membership.objects.filter(user=user, is_active=True).select_related("organisation")
    ]
    return practices[0] if len({words_of(p) for p in practices}) == 1 else None


def _tell(
    user: User,
    subject: str | Promise,
    change: str | Promise,
    to: str | None = None,
    values: dict[str, object] | None = None,
) -> None:
    """Email the member that `change` happened to their account, once the change is stored.
    `subject` and `change` are lazy (gettext_lazy), to be said in their practice's words."""
    with in_words_of(_their_practice(user)):
        title = str(subject)
        body = _(
            "%(change)s\n\nIf you did this, there is nothing more to do. If you did not, tell "
            "your practice's administrator at once: someone else may be using your account."
        ) % {"change": str(change) % values if values else str(change)}
    address = to or user.email

    def send() -> None:
        # A mail server that is down must not undo the change; the audit log has it.
        send_mail(title, body, settings.DEFAULT_FROM_EMAIL, [address], fail_silently=True)

    transaction.on_commit(send)


def do_confirm_authenticator(user: User, device: SealedTOTPDevice) -> list[str]:
    """Make `device` (verified with a code just now) the user's one authenticator and give them
    new recovery codes, returned to show once."""
    with transaction.atomic():
        others = SealedTOTPDevice.objects.filter(user=user).exclude(pk=device.pk)
        replaced = others.filter(confirmed=True).exists()
        others.delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        if user.setup_code:  # used once
            user.setup_code = ""
            user.save(update_fields=["setup_code"])
        codes = new_recovery_codes(user)
        record_account_event(
            "two_factor.replaced" if replaced else "two_factor.enrolled", user, by_self=True
        )
        if replaced:
            _tell(
                user,
                gettext_lazy("Ally: your authenticator app was replaced"),
                gettext_lazy("The authenticator app for your Ally account was replaced."),
            )
    return codes


def do_renew_recovery_codes(user: User) -> list[str]:
    """Ten new recovery codes in place of the old ones, returned to show once."""
    with transaction.atomic():
        codes = new_recovery_codes(user)
        record_account_event("two_factor.recovery_codes_renewed", user, by_self=True)
        _tell(
            user,
            gettext_lazy("Ally: new recovery codes"),
            gettext_lazy(
                "New recovery codes were made for your Ally account; the old ones no longer work."
            ),
        )
    return codes


def do_change_email(user: User, email: str) -> None:
    """The address the member signs in with; the old address is told."""
    with transaction.atomic():
        old = user.email
        user.email = email
        user.save(update_fields=["email"])
        record_account_event("account.email_changed", user, by_self=True)
        _tell(
            user,
            gettext_lazy("Ally: your sign-in address was changed"),
            gettext_lazy(
                "Your Ally account now signs in with another email address, not this one."
            ),
            to=old,
        )


def do_change_password(user: User, password: str) -> None:
    """A new password; the member's other sessions end with it (Django's session hash)."""
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        record_account_event("account.password_changed", user, by_self=True)
        _tell(
            user,
            gettext_lazy("Ally: your password was changed"),
            gettext_lazy("The password of your Ally account was changed."),
        )


def _end_sessions(user: User) -> None:
    """Every session of the user fails Django's session hash check at its next request."""
    User.objects.filter(pk=user.pk).update(session_generation=F("session_generation") + 1)
    user.refresh_from_db(fields=["session_generation"])


def do_end_device(user: User, device_id: int, *, current: int | None) -> None:
    """End one of the member's own signed-in browsers (not the one they are using)."""
    from ally.web.accounts.models import SignedInSession
    from ally.web.accounts.sessions import end_device

    if device_id == current:
        raise AccountActionError(_("This is the device you are using: sign out here instead."))
    row = SignedInSession.objects.filter(pk=device_id, user=user).first()
    if row is None:
        raise AccountActionError(_("That device is signed out already."))
    with transaction.atomic():
        end_device(row)
        record_account_event("session.device_ended", user, by_self=True)


def do_end_other_sessions(user: User, *, keep: int | None = None) -> None:
    """End every session of the member (the caller keeps its own with Django's
    `update_session_auth_hash`): a lost phone, a shared computer left signed in."""
    from ally.web.accounts.models import SignedInSession

    with transaction.atomic():
        _end_sessions(user)
        SignedInSession.objects.filter(user=user).exclude(pk=keep).delete()
        record_account_event("session.signed_out_everywhere", user, by_self=True)


def _check_admin_of(admin: Membership, membership: Membership) -> None:
    if (
        not can(admin, Capability.MANAGE_MEMBERS)
        or membership.organisation_id != admin.organisation_id
    ):
        raise PermissionDenied("Only the practice's administrators can change members' sign-in.")


def do_unlock(admin: Membership, membership: Membership) -> None:
    """Unlock a member's account after repeated failures (django-axes' reset)."""
    _check_admin_of(admin, membership)
    with transaction.atomic():
        lockout.unlock(membership.user)
        record("account.unlocked", actor=admin, target=membership)


def do_unlock_account(user: User) -> None:
    """Unlock an account from the server's command line (`ally manage unlock_account`)."""
    with transaction.atomic():
        lockout.unlock(user)
        record_account_event("account.unlocked", user, by_self=False)


def do_sign_out_member(admin: Membership, membership: Membership) -> None:
    """Sign a member out of this practice on every device: a device lost or left signed in, a
    member leaving. Their sessions at other practices go on: another practice's administrator
    does not end them (`sessions.signed_out_of_practice`)."""
    from ally.web.accounts.models import PracticeSignOut

    _check_admin_of(admin, membership)
    with transaction.atomic():
        PracticeSignOut.objects.update_or_create(
            user=membership.user,
            organisation=membership.organisation,
            defaults={"signed_out_at": timezone.now()},
        )
        record("session.ended_by_admin", actor=admin, target=membership)


def do_reset_second_factor(admin: Membership, membership: Membership) -> str:
    """Remove a member's authenticator and recovery codes: their sessions end at their next
    request, and they set up an authenticator again at their next sign-in, with their password
    and the one-time setup code returned here, which the administrator hands over once they know
    it is the member asking (a password alone does not enrol a new app)."""
    _check_admin_of(admin, membership)
    if membership.user_id == admin.user_id:
        raise AccountActionError(
            _("Replace your own authenticator on your account page, where you confirm it is you.")
        )
    with transaction.atomic():
        SealedTOTPDevice.objects.filter(user=membership.user).delete()
        RecoveryCodes.objects.filter(user=membership.user).delete()
        code = new_setup_code(membership.user)
        record("two_factor.reset", actor=admin, target=membership)
        _tell(
            membership.user,
            gettext_lazy("Ally: your second factor was reset"),
            gettext_lazy(
                "An administrator of %(practice)s reset the second factor of your Ally account. "
                "At your next sign-in you will set up your authenticator app again, with a setup "
                "code the administrator gives you in person or by phone."
            ),
            values={"practice": membership.organisation.name},
        )
    return code
