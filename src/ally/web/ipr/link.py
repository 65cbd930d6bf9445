"""The client's link to a recording: a signed, expiring address holding the recording's random
token, which moves into the client's session on first open (as questionnaire links do), so
that the address bar keeps no token. The visit grants that one recording and nothing else."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core import signing
from django.urls import reverse

from ally.web.ipr.models import Recording

SALT = "ally.ipr.link"
KEY = "ally_ipr"


def link_url(recording: Recording) -> str:
    signed = signing.TimestampSigner(salt=SALT).sign(recording.link_token)
    return f"{settings.ALLY_BASE_URL}{reverse('ipr_client:open', kwargs={'signed': signed})}"


def recording_of_link(signed: str) -> Recording | bool | None:
    """The recording a link names; None for a bad link, False for an old one."""
    signer = signing.TimestampSigner(salt=SALT)
    try:
        token = signer.unsign(signed, max_age=settings.ALLY_LINK_HOURS * 3600)
    except signing.SignatureExpired:
        return False
    except signing.BadSignature:
        return None
    return Recording.objects.select_related("organisation").filter(link_token=token).first()


def grant(session: Any, recording: Recording) -> None:
    session.cycle_key()
    session[KEY] = {"recording": recording.pk, "granted_at": time.time()}


def granted(session: Any) -> Recording | None:
    """The recording this visit's link granted, while the visit is young enough."""
    data = session.get(KEY) or {}
    if time.time() - float(data.get("granted_at") or 0) > settings.ALLY_LINK_HOURS * 3600:
        return None
    pk = data.get("recording")
    if pk is None:
        return None
    return Recording.objects.select_related("organisation", "session").filter(pk=int(pk)).first()
