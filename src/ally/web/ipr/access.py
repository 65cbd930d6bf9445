"""Who reaches which recording, and what they may do with it, from the role table and the
client's consent.

- The episode's clinicians (assigned or in the care team) reach its recordings, and review them
  as the clinician.
- Members who see the whole practice reach a recording only where the client's consent allows:
  supervision for the roles that see identities (supervisor, administrator), research for the
  de-identified ones (researcher). Anyone else's request is a 404, as for another practice.
- Only roles with PLAY_RECORDINGS hear the media, read the transcript or the marks' words;
  researchers get the marks' times, kinds and ratings, which name nobody.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from ally.web.ipr.models import ConsentScope, Recording
from ally.web.practice.models import Episode, Membership
from ally.web.scoping import Capability, can, caseload, scoped


def recordings_for(caller: Membership) -> Any:
    """The recordings `caller` may reach."""
    rows = scoped(Recording, caller)
    if not can(caller, Capability.SEE_WHOLE_PRACTICE):
        return rows
    if can(caller, Capability.SEE_IDENTITY):
        allowed = Q(consent__in=[ConsentScope.SUPERVISION, ConsentScope.RESEARCH])
    else:
        allowed = Q(consent=ConsentScope.RESEARCH)
    return rows.filter(allowed | Q(episode__in=caseload(caller).values("pk")))


def reviews_as_clinician(caller: Membership, episode: Episode) -> bool:
    """Whether `caller` is one of the episode's clinicians and may write."""
    return (
        can(caller, Capability.RECORD_CLINICAL_DATA)
        and caseload(caller).filter(pk=episode.pk).exists()
    )


def may_play(caller: Membership, recording: Recording) -> bool:
    """Whether `caller` may hear the media and read the words (consent given, media kept)."""
    return can(caller, Capability.PLAY_RECORDINGS) and bool(recording.consent)
