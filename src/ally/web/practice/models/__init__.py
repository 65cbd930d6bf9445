"""The practice's models, one file per concern."""

from ally.web.practice.models.clients import Client, ClientIdentity
from ally.web.practice.models.episodes import CareTeamMember, EndReason, Episode, TeamRole
from ally.web.practice.models.groups import Group, GroupMember
from ally.web.practice.models.organisations import (
    ClientWord,
    CrossOrganisationError,
    Invitation,
    Membership,
    Organisation,
    PracticeKind,
    same_organisation,
)
from ally.web.practice.models.sessions import Attendance, Session, SessionStatus

__all__ = [
    "Attendance",
    "CareTeamMember",
    "Client",
    "ClientIdentity",
    "ClientWord",
    "CrossOrganisationError",
    "EndReason",
    "Episode",
    "Group",
    "GroupMember",
    "Invitation",
    "Membership",
    "Organisation",
    "PracticeKind",
    "Session",
    "SessionStatus",
    "TeamRole",
    "same_organisation",
]
