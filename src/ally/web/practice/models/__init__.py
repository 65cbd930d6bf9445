"""The practice's models, one file per concern."""

from ally.web.practice.models.clients import Client, ClientIdentity
from ally.web.practice.models.episodes import CareTeamMember, EndReason, Episode
from ally.web.practice.models.groups import Group, GroupMember
from ally.web.practice.models.organisations import (
    CrossOrganisationError,
    Membership,
    Organisation,
    same_organisation,
)
from ally.web.practice.models.sessions import Attendance, Session, SessionStatus

__all__ = [
    "Attendance",
    "CareTeamMember",
    "Client",
    "ClientIdentity",
    "CrossOrganisationError",
    "EndReason",
    "Episode",
    "Group",
    "GroupMember",
    "Membership",
    "Organisation",
    "Session",
    "SessionStatus",
    "same_organisation",
]
