"""A small practice for the web tests: two organisations, one member per role."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection
from signing_in import sign_in

from ally.web.accounts.models import User
from ally.web.practice.models import (
    CareTeamMember,
    Client,
    ClientIdentity,
    Episode,
    Membership,
    Organisation,
)
from ally.web.scoping import Role

__all__ = ["sign_in"]

# PHQ-9 answers: item 9 (thoughts of self-harm) is the critical item.
PHQ9_MILD = [1, 1, 1, 1, 1, 0, 1, 1, 0]
PHQ9_ITEM9 = [1, 1, 1, 1, 1, 0, 1, 1, 2]


def member(organisation: Organisation, role: Role, name: str) -> Membership:
    user = User.objects.create_user(f"{name}@{organisation.slug}.example", "pw")
    return Membership.objects.create(user=user, organisation=organisation, role=role)


def episode_for(clinician: Membership, code: str) -> Episode:
    organisation = clinician.organisation
    client = Client.objects.create(organisation=organisation, code=code)
    ClientIdentity.objects.create(client=client, name=f"Name of {code}", email="c@example.org")
    return Episode.objects.create(
        organisation=organisation, client=client, clinician=clinician, opened_on=dt.date(2026, 1, 5)
    )


@dataclass
class Practice:
    org: Organisation
    admin: Membership
    supervisor: Membership
    researcher: Membership
    clinician: Membership
    colleague: Membership
    own: Episode
    """The clinician's own episode."""
    shared: Episode
    """The colleague's episode, with the clinician in its care team."""
    other: Episode
    """The colleague's episode the clinician has nothing to do with."""
    elsewhere: Episode
    """An episode of another organisation."""
    outsider: Membership
    """A supervisor of the other organisation."""


def build_practice() -> Practice:
    org = Organisation.objects.create(name="North Practice", slug="north")
    far = Organisation.objects.create(name="South Practice", slug="south")
    clinician = member(org, Role.CLINICIAN, "clin")
    colleague = member(org, Role.CLINICIAN, "coll")
    shared = episode_for(colleague, "N-002")
    CareTeamMember.objects.create(episode=shared, member=clinician, role="co-therapist")
    outsider = member(far, Role.SUPERVISOR, "sup")
    return Practice(
        org=org,
        admin=member(org, Role.ADMIN, "admin"),
        supervisor=member(org, Role.SUPERVISOR, "sup"),
        researcher=member(org, Role.RESEARCHER, "res"),
        clinician=clinician,
        colleague=colleague,
        own=episode_for(clinician, "N-001"),
        shared=shared,
        other=episode_for(colleague, "N-003"),
        elsewhere=episode_for(member(far, Role.CLINICIAN, "clin"), "S-001"),
        outsider=outsider,
    )


def database_text() -> str:
    """Every value of every table as text, as a dump of the database would show it (bytes as
    Latin-1, so that any readable run of bytes shows)."""
    parts = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        parts.append(bytes(value).decode("latin-1"))
                    else:
                        parts.append(str(value))
    return "\n".join(parts)
