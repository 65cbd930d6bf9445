"""A short recording made in the test: a WAV tone (Python's wave module), which browsers play."""

from __future__ import annotations

import datetime as dt
import io
import math
import struct
import wave
from typing import Any

from django.utils import timezone

from ally.web.actions.ipr import do_attach_recording, do_give_consent
from ally.web.ipr import media
from ally.web.ipr.models import Recording
from ally.web.practice.models import Episode, Session

TOMORROW = dt.date.today() + dt.timedelta(days=30)
"""A retention date well ahead (named for the consent forms' "after today")."""


def wav_bytes(seconds: float = 3.0, rate: int = 8000, pitch: float = 440.0) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * pitch * n / rate)))
            for n in range(int(seconds * rate))
        )
        audio.writeframes(frames)
    return out.getvalue()


VTT = "WEBVTT\n\n00:00.000 --> 00:01.500\nHow was your week?\n\n00:01.500 --> 00:03.000\nHard.\n"


def new_session(episode: Episode, number: int = 1) -> Session:
    return Session.objects.create(
        organisation=episode.organisation,
        episode=episode,
        number=number,
        scheduled_at=timezone.now(),
    )


def stored_recording(episode: Episode, content: bytes | None = None, **consent: Any) -> Recording:
    """A recording of a new session of `episode`, written the way an upload writes it."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    session = new_session(episode, Session.objects.filter(episode=episode).count() + 1)
    content = wav_bytes() if content is None else content
    key = AESGCM.generate_key(bit_length=256)
    file_id = f"{session.pk:08d}aa"
    writer = media.SealedWriter(file_id, key)
    writer.write(content)
    writer.close()
    recording = do_attach_recording(
        session,
        file_id=file_id,
        file_key=key,
        media_type="audio/wav",
        size=len(content),
        retention_until=TOMORROW,
        actor=episode.clinician,
    )
    if consent.get("scope"):
        recording = do_give_consent(recording, consent["scope"], TOMORROW)
    return recording
