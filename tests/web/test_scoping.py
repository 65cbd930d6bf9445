"""Who sees what: each role, and another organisation's rows as a 404."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone
from web_practice import PHQ9_ITEM9, Practice

from ally.web.actions.answers import do_record_response
from ally.web.alerts.models import Alert
from ally.web.collect.models import Administration, Response
from ally.web.practice.models import (
    Attendance,
    Client,
    ClientIdentity,
    Episode,
    Group,
    GroupMember,
    Membership,
    Session,
)
from ally.web.scoping import (
    Role,
    check_can_record,
    get_scoped_or_404,
    membership_or_404,
    scoped,
)


def codes(episodes: object) -> set[str]:
    return {e.client.code for e in episodes}  # type: ignore[attr-defined]


def test_a_clinician_sees_their_caseload_and_their_care_team_episodes(practice: Practice) -> None:
    assert codes(scoped(Episode, practice.clinician)) == {"N-001", "N-002"}
    assert {c.code for c in scoped(Client, practice.clinician)} == {"N-001", "N-002"}


@pytest.mark.parametrize("role", ["admin", "supervisor", "researcher"])
def test_admins_supervisors_and_researchers_see_the_whole_organisation(
    practice: Practice, role: str
) -> None:
    assert codes(scoped(Episode, getattr(practice, role))) == {"N-001", "N-002", "N-003"}


def test_a_researcher_never_sees_names_or_contact_details(practice: Practice) -> None:
    assert not scoped(ClientIdentity, practice.researcher).exists()
    assert scoped(ClientIdentity, practice.supervisor).count() == 3
    with pytest.raises(Http404):
        get_scoped_or_404(ClientIdentity, practice.researcher, client=practice.own.client)


def test_a_clinician_sees_identities_of_their_own_clients_only(practice: Practice) -> None:
    names = {i.name for i in scoped(ClientIdentity, practice.clinician)}
    assert names == {"Name of N-001", "Name of N-002"}


@pytest.mark.parametrize("role", ["admin", "supervisor", "researcher", "clinician"])
def test_another_organisations_episode_is_not_found(practice: Practice, role: str) -> None:
    with pytest.raises(Http404):
        get_scoped_or_404(Episode, getattr(practice, role), pk=practice.elsewhere.pk)


def test_a_colleagues_episode_outside_the_care_team_is_not_found(practice: Practice) -> None:
    with pytest.raises(Http404):
        get_scoped_or_404(Episode, practice.clinician, pk=practice.other.pk)
    assert get_scoped_or_404(Episode, practice.supervisor, pk=practice.other.pk) == practice.other


def test_a_malformed_key_is_not_found_rather_than_an_error(practice: Practice) -> None:
    with pytest.raises(Http404):
        get_scoped_or_404(Episode, practice.admin, pk="not-a-number")


def test_rows_below_an_episode_follow_its_scope(practice: Practice) -> None:
    from ally.web.actions.answers import do_create_administration

    for episode in (practice.own, practice.other, practice.elsewhere):
        administration = do_create_administration(episode, "phq9")
        do_record_response(administration, PHQ9_ITEM9, idempotency_key=f"k{episode.pk}")
    assert {a.episode for a in Administration.objects.for_member(practice.clinician)} == {
        practice.own
    }
    assert Response.objects.for_member(practice.supervisor).count() == 2
    assert {a.episode for a in Alert.objects.for_member(practice.clinician)} == {practice.own}
    assert Alert.objects.for_member(practice.outsider).get().episode == practice.elsewhere


def test_group_sessions_are_seen_by_leaders_and_clinicians_of_members(practice: Practice) -> None:
    group = Group.objects.create(organisation=practice.org, label="Tuesday group")
    group.leaders.add(practice.colleague)
    GroupMember.objects.create(group=group, episode=practice.other, joined_on=dt.date(2026, 1, 6))
    session = Session.objects.create(
        organisation=practice.org,
        group=group,
        clinician=practice.colleague,
        scheduled_at=timezone.now(),
    )
    Attendance.objects.create(session=session, episode=practice.other, status="attended")
    assert list(scoped(Session, practice.colleague)) == [session]
    assert list(scoped(Group, practice.colleague)) == [group]
    assert not scoped(Session, practice.clinician).exists()
    assert not scoped(Group, practice.clinician).exists()
    GroupMember.objects.create(group=group, episode=practice.own, joined_on=dt.date(2026, 1, 6))
    Attendance.objects.create(session=session, episode=practice.own, status="attended")
    assert list(scoped(Session, practice.clinician)) == [session]
    # The clinician sees the session, not the other members' attendance.
    assert {a.episode for a in scoped(Attendance, practice.clinician)} == {practice.own}


def test_every_member_sees_the_members_of_their_own_organisation_only(practice: Practice) -> None:
    members = scoped(Membership, practice.clinician)
    assert {m.organisation for m in members} == {practice.org}
    assert members.count() == 5


def test_an_inactive_membership_sees_nothing(practice: Practice) -> None:
    practice.supervisor.is_active = False
    practice.supervisor.save()
    assert not scoped(Episode, practice.supervisor).exists()


def test_membership_of_another_organisation_is_not_found(practice: Practice) -> None:
    user = practice.clinician.user
    assert membership_or_404(user, "north") == practice.clinician
    with pytest.raises(Http404):
        membership_or_404(user, "south")
    with pytest.raises(Http404):
        membership_or_404(user, "no-such-practice")


def test_researchers_read_but_do_not_write(practice: Practice) -> None:
    with pytest.raises(PermissionDenied):
        check_can_record(practice.researcher, practice.own)
    check_can_record(practice.supervisor, practice.own)
    with pytest.raises(Http404):
        check_can_record(practice.clinician, practice.other)
    with pytest.raises(Http404):
        check_can_record(practice.outsider, practice.own)


def test_a_model_without_a_scope_cannot_be_scoped(practice: Practice) -> None:
    from ally.web.accounts.models import User

    with pytest.raises(TypeError, match="scope"):
        scoped(User, practice.admin)


def test_roles_are_the_four_of_the_issue() -> None:
    assert set(Role.values) == {"admin", "clinician", "supervisor", "researcher"}


def test_one_table_says_what_each_role_may_do() -> None:
    from ally.web.scoping import CAPABILITIES, Capability, roles_with

    assert CAPABILITIES[Role.ADMIN] == frozenset(Capability)
    # Researchers read the whole practice de-identified and change nothing.
    assert CAPABILITIES[Role.RESEARCHER] == {
        Capability.SEE_WHOLE_PRACTICE,
        Capability.SEE_DASHBOARD,
        Capability.READ_EPISODES,
        Capability.READ_FHIR,
        Capability.EXPORT_RESEARCH_DATA,
    }
    assert roles_with(Capability.RECORD_CLINICAL_DATA) == {
        Role.ADMIN,
        Role.SUPERVISOR,
        Role.CLINICIAN,
    }
    assert roles_with(Capability.MANAGE_MEMBERS) == {Role.ADMIN}
    assert roles_with(Capability.MANAGE_API_CLIENTS) == {Role.ADMIN}
    # Every role that records clinical data also gives measures and enters answers.
    assert roles_with(Capability.RECORD_ANSWERS) == roles_with(Capability.RECORD_CLINICAL_DATA)
    assert roles_with(Capability.READ_EPISODES) == set(Role)
    assert roles_with(Capability.EXPORT_CLIENT_DATA) == {Role.ADMIN, Role.CLINICIAN}
    assert Capability.SEE_DASHBOARD not in CAPABILITIES[Role.CLINICIAN]


def test_one_table_says_what_each_api_scope_and_reach_may_do() -> None:
    from ally.web.scoping import (
        ApiScope,
        Capability,
        Reach,
        scopes_giving,
        token_capabilities,
    )

    everything = token_capabilities(list(ApiScope.values), Reach.PRACTICE)
    assert everything == {
        Capability.SEE_WHOLE_PRACTICE,
        Capability.READ_EPISODES,
        Capability.RECORD_ANSWERS,
        Capability.READ_FHIR,
        Capability.EXPORT_RESEARCH_DATA,
    }
    # No token reads names or contact details, or does a member's own work.
    for capability in (
        Capability.SEE_IDENTITY,
        Capability.RECORD_CLINICAL_DATA,
        Capability.MANAGE_MEMBERS,
        Capability.MANAGE_API_CLIENTS,
        Capability.READ_AUDIT_LOG,
        Capability.ERASE,
    ):
        assert scopes_giving(capability) == frozenset()
    assert token_capabilities(["episodes:read"], Reach.CASELOAD) == {Capability.READ_EPISODES}
    assert scopes_giving(Capability.RECORD_ANSWERS) == {ApiScope.WRITE_RESPONSES}
