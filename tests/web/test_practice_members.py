"""Running the practice from the web app: the first-run set-up, invitations, roles, removing
members (never the last administrator), and the care team's roles, removal and alerts."""

from __future__ import annotations

import datetime as dt
from base64 import b32decode
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core import mail, signing
from django.test import Client as Browser
from django.utils import timezone
from django_otp.oath import totp
from signing_in import sign_in
from web_practice import Practice

from ally.web.accounts.joining import SETUP_KEY_FILE, setup_url
from ally.web.actions.members import (
    INVITATION_SALT,
    MemberActionError,
    do_change_role,
    do_invite_member,
    do_remove_member,
)
from ally.web.alerts.models import Alert, AlertKind
from ally.web.auditlog.models import AuditEntry
from ally.web.practice.models import CareTeamMember, Invitation, Membership, Organisation

STRONG = "correct horse battery staple"


def _secret_of(page: Any) -> bytes:
    text = page.content.decode().split('id="totp-secret">', 1)[1].split("<", 1)[0]
    secret = "".join(text.split())
    return b32decode(secret + "=" * (-len(secret) % 8))


def _set_up_authenticator(browser: Browser) -> Any:
    page = browser.get("/accounts/two-factor/setup/")
    assert page.status_code == 200
    return browser.post("/accounts/two-factor/setup/", {"code": f"{totp(_secret_of(page)):06d}"})


# The first run -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_fresh_install_opens_the_set_up_and_its_administrator_sets_up_a_second_factor(
    settings: Any,
) -> None:
    browser = Browser()
    assert browser.get("/")["Location"] == "/setup/"
    # Without the one-time key that ally serve printed, nobody sets the practice up.
    assert browser.get("/setup/").status_code == 403
    assert browser.get("/setup/?key=guess").status_code == 403
    key = urlsplit(setup_url("http://testserver")).query.removeprefix("key=")
    assert browser.get(f"/setup/?key={key}").status_code == 200
    sent = browser.post(
        "/setup/",
        {
            "key": key,
            "name": "Harbour Coaching",
            "kind": "coaching",
            "client_word": "coachee",
            "display_name": "Ada Admin",
            "email": "Ada@Harbour.example",
            "password": STRONG,
        },
    )
    assert sent["Location"] == "/accounts/two-factor/setup/"
    organisation = Organisation.objects.get()
    assert (organisation.kind, organisation.client_word) == ("coaching", "coachee")
    admin = Membership.objects.get()
    assert (admin.role, admin.user.email) == ("admin", "ada@harbour.example")
    # No page of the practice opens before the authenticator is set up.
    assert browser.get(f"/o/{organisation.slug}/members/").status_code == 302
    _set_up_authenticator(browser)
    assert browser.get(f"/o/{organisation.slug}/members/").status_code == 200
    assert set(AuditEntry.objects.values_list("action", flat=True)) >= {
        "practice.set_up",
        "member.joined",
    }
    # The key was used once: gone from the data folder.
    assert not (Path(settings.ALLY_DATA_DIR) / SETUP_KEY_FILE).exists()
    # Once a practice exists the set-up page is gone, for anyone.
    assert Browser().get("/setup/").status_code == 404
    assert Browser().get("/")["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_the_set_up_refuses_a_weak_password_and_stores_nothing() -> None:
    answer = Browser().post(
        "/setup/",
        {
            "key": urlsplit(setup_url("http://testserver")).query.removeprefix("key="),
            "name": "P",
            "kind": "therapy",
            "email": "a@p.example",
            "password": "password",
        },
    )
    assert answer.status_code == 400
    assert not Organisation.objects.exists()


# Invitations -------------------------------------------------------------------------------------


def _link_in(message: Any) -> str:
    return next(w for w in message.body.split() if "/accounts/invitation/" in w)


def test_an_invited_member_sets_a_password_and_a_second_factor_and_joins_with_the_role(
    practice: Practice, django_capture_on_commit_callbacks: Any
) -> None:
    admin = Browser()
    sign_in(admin, practice.admin.user)
    with django_capture_on_commit_callbacks(execute=True):
        sent = admin.post(
            "/o/north/members/invite/", {"email": "New@North.example", "role": "supervisor"}
        )
    assert sent.status_code == 302
    invitation = Invitation.objects.get()
    assert invitation.email == "new@north.example"
    (message,) = mail.outbox
    link = _link_in(message)
    path = urlsplit(link).path
    invitee = Browser()
    assert invitee.get(path).status_code == 200
    joined = invitee.post(path, {"display_name": "Nia New", "password": STRONG})
    assert joined["Location"] == "/accounts/two-factor/setup/"
    _set_up_authenticator(invitee)
    membership = Membership.objects.get(user__email="new@north.example")
    assert membership.role == "supervisor"
    assert invitee.get("/o/north/caseload/").status_code == 200
    # Used once.
    assert Browser().get(path).status_code == 404


def test_an_invitation_link_that_is_changed_old_or_withdrawn_opens_nothing(
    practice: Practice,
) -> None:
    invitation = do_invite_member(practice.admin, "late@north.example", "clinician")
    token = signing.dumps(invitation.pk, salt=INVITATION_SALT)
    browser = Browser()
    assert browser.get(f"/accounts/invitation/{token}x/").status_code == 404
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    assert browser.get(f"/accounts/invitation/{token}/").status_code == 404
    again = do_invite_member(practice.admin, "late@north.example", "clinician")
    fresh = signing.dumps(again.pk, salt=INVITATION_SALT)
    assert browser.get(f"/accounts/invitation/{fresh}/").status_code == 200
    sign_in(admin := Browser(), practice.admin.user)
    admin.post(f"/o/north/members/invitations/{again.pk}/withdraw/")
    assert browser.get(f"/accounts/invitation/{fresh}/").status_code == 404


def test_an_existing_account_joins_with_its_own_password_not_a_new_one(
    practice: Practice,
) -> None:
    outsider = practice.outsider.user  # a member of the other practice
    invitation = do_invite_member(practice.admin, outsider.email, "researcher")
    path = f"/accounts/invitation/{signing.dumps(invitation.pk, salt=INVITATION_SALT)}/"
    refused = Browser().post(path, {"password": STRONG})
    assert refused.status_code == 400
    assert not Membership.objects.filter(user=outsider, organisation=practice.org).exists()
    joined = Browser().post(path, {"password": "pw"})
    assert joined.status_code == 302
    assert Membership.objects.get(user=outsider, organisation=practice.org).role == "researcher"


# Roles and removal -------------------------------------------------------------------------------


def test_the_last_administrator_keeps_their_role_and_their_place(practice: Practice) -> None:
    with pytest.raises(MemberActionError, match="only administrator"):
        do_change_role(practice.admin, practice.admin, "clinician")
    with pytest.raises(MemberActionError, match="only administrator"):
        do_remove_member(practice.admin, practice.admin)
    do_change_role(practice.admin, practice.supervisor, "admin")
    do_change_role(practice.admin, practice.admin, "clinician")
    assert Membership.objects.get(pk=practice.admin.pk).role == "clinician"


def test_a_removed_member_no_longer_reaches_the_practice_and_their_records_stay(
    practice: Practice,
) -> None:
    colleague = Browser()
    sign_in(colleague, practice.colleague.user)
    assert colleague.get("/o/north/caseload/").status_code == 200
    admin = Browser()
    sign_in(admin, practice.admin.user)
    assert admin.post(f"/o/north/members/{practice.colleague.pk}/remove/").status_code == 302
    assert colleague.get("/o/north/caseload/").status_code in (302, 404)
    assert practice.other.clinician_id == practice.colleague.pk  # the record stays
    admin.get("/o/north/members/")  # the message shown once
    page = admin.get("/o/north/members/").content.decode()
    assert practice.colleague.user.email not in page
    assert AuditEntry.objects.filter(action="member.removed").count() == 1


def test_an_administrator_changes_a_role_on_the_members_page(practice: Practice) -> None:
    admin = Browser()
    sign_in(admin, practice.admin.user)
    admin.post(f"/o/north/members/{practice.researcher.pk}/role/", {"role": "clinician"})
    assert Membership.objects.get(pk=practice.researcher.pk).role == "clinician"
    admin.post(f"/o/north/members/{practice.researcher.pk}/role/", {"role": "owner"})
    assert Membership.objects.get(pk=practice.researcher.pk).role == "clinician"


# The care team -----------------------------------------------------------------------------------


def test_a_clinician_gives_a_team_role_chooses_alerts_and_removes_a_member(
    practice: Practice,
) -> None:
    colleague = Browser()
    sign_in(colleague, practice.colleague.user)
    entry = CareTeamMember.objects.get(episode=practice.shared, member=practice.clinician)
    Alert.objects.create(
        episode=practice.shared, kind=AlertKind.RUPTURE, message="m", raised_at=timezone.now()
    )
    clinician = Browser()
    sign_in(clinician, practice.clinician.user)
    assert "(1 open)" in clinician.get("/o/north/alerts/").content.decode()

    colleague.post(f"/o/north/care-team/{entry.pk}/", {"role": "psychiatrist"})
    entry.refresh_from_db()
    assert (entry.role, entry.receives_alerts) == ("psychiatrist", False)
    # Off the alert list and count, still on the episode page.
    assert "(1 open)" not in clinician.get("/o/north/alerts/").content.decode()
    assert clinician.get(f"/o/north/episodes/{practice.shared.pk}/").status_code == 200

    colleague.post(f"/o/north/care-team/{entry.pk}/remove/")
    assert not CareTeamMember.objects.filter(pk=entry.pk).exists()
    assert clinician.get(f"/o/north/episodes/{practice.shared.pk}/").status_code == 404
    assert {"care_team.changed", "care_team.removed"} <= set(
        AuditEntry.objects.values_list("action", flat=True)
    )


def test_a_team_role_outside_the_list_is_refused(practice: Practice) -> None:
    colleague = Browser()
    sign_in(colleague, practice.colleague.user)
    entry = CareTeamMember.objects.get(episode=practice.shared, member=practice.clinician)
    colleague.post(f"/o/north/care-team/{entry.pk}/", {"role": "boss", "receives_alerts": "on"})
    entry.refresh_from_db()
    assert entry.role == "co-therapist"
