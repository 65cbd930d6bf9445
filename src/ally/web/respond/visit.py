"""The client's visit, kept in the Django session: which administrations the link granted, the
answers saved for later, and each form's submission key.

The link is the only authority: the visit grants the administration it names and the other open
client-rated ones of the same episode and session, and nothing else. Nothing here identifies the
client; the session holds administration ids, keys and the answers saved for later, these
sealed with AES-GCM under the client's data key (as their name and email are: privacy/sealed.py),
so the session table holds no answer in the clear and erasing the client makes them unreadable.
A visit's session expires with the link (ALLY_LINK_HOURS); `ally manage purge_expired` deletes
expired sessions.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from ally.web.collect.models import Administration
from ally.web.collect.models.administrations import OPEN_STATUSES
from ally.web.collect.models.choices import Respondent, Timing
from ally.web.endings.models import Purpose
from ally.web.privacy.keys import KeyUnavailableError, data_key_for
from ally.web.privacy.sealed import SealError, context, seal, secret_frames, unseal

KEY = "ally_respond"
DRAFT_TABLE = "respond_draft"
"""The associated data's table name for a sealed draft: bound to its administration too."""


def _client_of(pk: int) -> int | None:
    found = Administration.objects.filter(pk=pk).values_list("episode__client_id", flat=True)
    return next(iter(found), None)


@secret_frames
def seal_draft(pk: int, answers: Mapping[str, str]) -> dict[str, Any]:
    """The answers saved for later, sealed under the client's data key."""
    client = _client_of(pk)
    if client is None:
        return {}
    key = data_key_for(client, create=True)
    plain = json.dumps(dict(answers), sort_keys=True).encode()
    sealed = seal(plain, key.material, context(DRAFT_TABLE, ("answers",), pk, key.generation))
    return {"generation": key.generation, "sealed": base64.b64encode(sealed).decode("ascii")}


@secret_frames
def open_draft(pk: int, stored: Mapping[str, Any]) -> dict[str, str]:
    """The saved answers, or none when they do not open: the client was erased, their key
    renewed, the value changed or moved to another form (or saved in the clear by an older
    Ally, which is not read)."""
    client = _client_of(pk)
    if client is None or "sealed" not in stored:
        return {}
    try:
        key = data_key_for(client)
        generation = int(stored["generation"])
        sealed = base64.b64decode(str(stored["sealed"]), validate=True)
        associated = context(DRAFT_TABLE, ("answers",), pk, generation)
        answers = json.loads(unseal(sealed, key.material, associated))
    except (KeyUnavailableError, SealError, KeyError, ValueError, binascii.Error):
        return {}
    return {str(number): str(value) for number, value in answers.items()}


def siblings(administration: Administration) -> QuerySet[Administration]:
    """The administration and the other open client-rated ones of its episode and session, or
    for a form sent by an ending (docs/data-model.md, "Endings") those sent with it."""
    this = Administration.objects.filter(pk=administration.pk)
    open_ones = Administration.objects.filter(
        episode_id=administration.episode_id,
        respondent=Respondent.CLIENT,
        status__in=OPEN_STATUSES,
    )
    ending = this.values_list("ending_form__ending_id", "ending_form__purpose").first()
    if ending is not None and ending[0] is not None:
        ending_id, purpose = ending
        follow_up = purpose == Purpose.FOLLOW_UP
        sent_with = open_ones.filter(ending_form__ending_id=ending_id)
        sent_with = (
            sent_with.filter(ending_form__purpose=purpose)
            if follow_up
            else sent_with.exclude(ending_form__purpose=Purpose.FOLLOW_UP)
        )
        this = this | sent_with
    if administration.session_id is None:
        return this
    return this | open_ones.filter(session_id=administration.session_id)


def in_order(administrations: list[Administration]) -> list[Administration]:
    """Before the session first, then the rest, each in the order they were created."""
    return sorted(administrations, key=lambda a: (a.timing != Timing.BEFORE, a.pk))


class Visit:
    """The client's state in this browser; saved back into the session on every change."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self._data: dict[str, Any] = dict(session.get(KEY) or {})

    def _save(self) -> None:
        self._session[KEY] = self._data

    # Grants -------------------------------------------------------------------------------------

    def grant(self, administration: Administration) -> None:
        """Start a visit from a link; answers saved for other administrations are dropped."""
        ids = [a.pk for a in in_order(list(siblings(administration)))]
        kept = {str(pk) for pk in ids}
        # The same visit opened again: a safety message not yet seen is still shown first.
        safety = self.safety and bool(set(self.grants) & set(ids))
        self._data = {
            "grants": ids,
            "organisation": administration.episode.organisation_id,
            "granted_at": time.time(),
            "drafts": {k: v for k, v in self._drafts().items() if k in kept},
            "keys": {k: v for k, v in self._keys().items() if k in kept},
        }
        if safety:
            self._data["safety"] = True
        self._save()
        # The visit's session row goes when the link would: nothing waits 14 days in the table.
        self._session.set_expiry(settings.ALLY_LINK_HOURS * 3600)

    @property
    def grants(self) -> list[int]:
        """Granted administration ids in order; none once the visit has ended or grown old."""
        granted_at = float(self._data.get("granted_at") or 0)
        if time.time() - granted_at > settings.ALLY_LINK_HOURS * 3600:
            return []
        return [int(pk) for pk in self._data.get("grants", [])]

    def administrations(self) -> list[Administration]:
        """The granted administrations, fresh from the database, in order."""
        rows = Administration.objects.filter(pk__in=self.grants).select_related(
            "episode__organisation", "session"
        )
        return in_order(list(rows))

    def granted(self, pk: int) -> bool:
        return pk in self.grants

    @property
    def organisation_id(self) -> int | None:
        value = self._data.get("organisation")
        return int(value) if value is not None else None

    def finish(self, *, safety: bool, later: bool = False) -> None:
        """End the visit: grants, saved answers and keys go, so the device can be handed back.

        `later`: a questionnaire about the session opens once it has started (the done page says
        so, without naming it)."""
        self._data = {"finished": True, "organisation": self.organisation_id}
        if safety:
            self._data["safety"] = True
        if later:
            self._data["later"] = True
        self._save()

    @property
    def later(self) -> bool:
        return bool(self._data.get("later"))

    @property
    def finished(self) -> bool:
        return bool(self._data.get("finished"))

    # The safety message -------------------------------------------------------------------------

    def show_safety(self) -> None:
        self._data["safety"] = True
        self._save()

    @property
    def safety(self) -> bool:
        return bool(self._data.get("safety"))

    def safety_seen(self) -> None:
        if self._data.pop("safety", None):
            self._save()

    # Saved answers and submission keys ---------------------------------------------------------

    def _drafts(self) -> dict[str, dict[str, Any]]:
        return dict(self._data.get("drafts") or {})

    def _keys(self) -> dict[str, str]:
        return dict(self._data.get("keys") or {})

    def draft(self, pk: int) -> dict[str, str]:
        """The raw answers saved for later, by item number as text."""
        return open_draft(pk, self._drafts().get(str(pk), {}))

    def save_draft(self, pk: int, raw: Mapping[str, str]) -> None:
        drafts = self._drafts()
        drafts[str(pk)] = seal_draft(pk, {number: value for number, value in raw.items() if value})
        self._data["drafts"] = drafts
        self._save()

    def submission_key(self, pk: int) -> str:
        """The idempotency key of this administration's form, made when it is first shown."""
        keys = self._keys()
        if str(pk) not in keys:
            keys[str(pk)] = uuid.uuid4().hex
            self._data["keys"] = keys
            self._save()
        return keys[str(pk)]

    def new_submission_key(self, pk: int) -> str:
        """A fresh key, when the one on the page was already used for another submission."""
        keys = self._keys()
        keys.pop(str(pk), None)
        self._data["keys"] = keys
        self._save()
        return self.submission_key(pk)

    def drop_draft(self, pk: int) -> None:
        drafts = self._drafts()
        if drafts.pop(str(pk), None) is not None:
            self._data["drafts"] = drafts
            self._save()
