"""Every email Ally sends speaks its practice's words, also when no request of that practice is
under way (the scheduled job that sends links, a command): a coaching practice's emails say no
therapy word (test_coaching_words.THERAPY_WORDS), in English and in German."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core import mail
from django.utils import translation
from signing_in import authenticator
from test_coaching_words import THERAPY_WORDS, coaching  # noqa: F401 (the fixture)

from ally.web.accounts.models import SealedTOTPDevice, User
from ally.web.actions.accounts import (
    do_change_email,
    do_change_password,
    do_confirm_authenticator,
    do_renew_recovery_codes,
    do_reset_second_factor,
)
from ally.web.actions.answers import do_create_administration
from ally.web.actions.members import do_invite_member
from ally.web.endings.messages import tell_client_we_noticed
from ally.web.practice.models import Episode, Membership, Organisation
from ally.web.respond.links import send_link_by_email


def _emails(org: Organisation) -> dict[str, Callable[[], object]]:
    """Each email Ally sends, for the coaching practice: what sends it."""
    admin = Membership.objects.get(organisation=org, role="admin")
    coach = Membership.objects.get(organisation=org, user__email="coach1@coaching.example")
    episode = Episode.objects.filter(organisation=org).order_by("pk").first()
    assert episode is not None

    def replace_authenticator() -> object:
        authenticator(coach.user)
        return do_confirm_authenticator(
            coach.user, SealedTOTPDevice.objects.create(user=coach.user, name="New phone")
        )

    return {
        "questionnaire link": lambda: send_link_by_email(
            do_create_administration(episode, "who5"), None
        ),
        "reminder": lambda: send_link_by_email(
            do_create_administration(episode, "who5"), None, reminder=True
        ),
        "we noticed you stopped": lambda: tell_client_we_noticed(episode),
        "invitation of a coach": lambda: do_invite_member(
            admin, "new.coach@coaching.example", "clinician"
        ),
        "invitation of a supervisor": lambda: do_invite_member(
            admin, "new.supervisor@coaching.example", "supervisor"
        ),
        "authenticator replaced": replace_authenticator,
        "new recovery codes": lambda: do_renew_recovery_codes(coach.user),
        "sign-in address changed": lambda: do_change_email(
            User.objects.get(pk=coach.user_id), "coach1.new@coaching.example"
        ),
        "password changed": lambda: do_change_password(coach.user, "a new long passphrase"),
        "second factor reset": lambda: do_reset_second_factor(
            admin, Membership.objects.get(organisation=org, user__email="coach2@coaching.example")
        ),
    }


@pytest.mark.parametrize("language", ["en", "de"])
def test_no_email_of_a_coaching_practice_speaks_of_therapy(
    coaching: Organisation,  # noqa: F811
    language: str,
    django_capture_on_commit_callbacks: Callable[..., object],
) -> None:
    found: dict[str, set[str]] = {}
    for name, send in _emails(coaching).items():
        mail.outbox.clear()
        with translation.override(language), django_capture_on_commit_callbacks(execute=True):
            send()
        assert len(mail.outbox) == 1, name
        message = mail.outbox[0]
        words = {m.group(0) for m in THERAPY_WORDS.finditer(f"{message.subject}\n{message.body}")}
        if words:
            found[name] = words
    assert found == {}


def test_an_invitation_names_the_role_in_the_practice_s_words(
    coaching: Organisation,  # noqa: F811
    django_capture_on_commit_callbacks: Callable[..., object],
) -> None:
    """Sent outside any request of the practice: the coach is invited as a coach."""
    admin = Membership.objects.get(organisation=coaching, role="admin")
    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        do_invite_member(admin, "new.coach@coaching.example", "clinician")
    assert "on Ally as Coach." in mail.outbox[-1].body
