"""Receiving a recording: the upload is encrypted as it arrives, so the plain media never lands
on disk (not even in a temporary file), its type is read from its first bytes, and an upload
over ALLY_RECORDING_MAX_MB stops with a message instead of filling the disk."""

from __future__ import annotations

import uuid
from io import BytesIO
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopFutureHandlers, StopUpload

from ally.web.ipr.media import SNIFF_BYTES, SealedWriter, media_type_of

FIELD = "media"
MEGABYTE = 1024 * 1024


class SealedUpload(UploadedFile):
    """What the handler gives the view: no content, only where it went and what it is."""

    def __init__(self, file_id: str, media_type: str, size: int) -> None:
        super().__init__(BytesIO(b""), name="recording", content_type=media_type, size=size)
        self.file_id = file_id
        self.media_type = media_type


class SealingUploadHandler(FileUploadHandler):
    """Encrypts the `media` field into the data folder as it streams in; other files are
    refused. After parsing, `problem` is "" or one of "too_large", "not_media", "empty"."""

    chunk_size = 64 * 1024

    def __init__(self, request: Any = None) -> None:
        super().__init__(request)
        self.limit = settings.ALLY_RECORDING_MAX_MB * MEGABYTE
        self.file_key = AESGCM.generate_key(bit_length=256)
        self.file_id = uuid.uuid4().hex
        self.problem = ""
        self._writer: SealedWriter | None = None
        self._head = b""
        self._media_type = ""

    def new_file(self, field_name: str, *args: Any, **kwargs: Any) -> None:
        super().new_file(field_name, *args, **kwargs)
        if field_name != FIELD or self._writer is not None or self._head:
            self._stop("not_media")
        raise StopFutureHandlers()

    def _stop(self, problem: str) -> None:
        self.problem = problem
        if self._writer is not None:
            self._writer.abort()
            self._writer = None
        # The rest of the request is read and dropped; the view answers with a message.
        raise StopUpload(connection_reset=False)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        if start + len(raw_data) > self.limit:
            self._stop("too_large")
        if self._writer is None:
            self._head += raw_data
            if len(self._head) < SNIFF_BYTES:
                return None
            media_type = media_type_of(self._head[:SNIFF_BYTES])
            if media_type is None:
                self._stop("not_media")
            self._media_type = str(media_type)
            self._writer = SealedWriter(self.file_id, self.file_key)
            self._writer.write(self._head)
            self._head = b"-"  # marks the one file as begun
        else:
            self._writer.write(raw_data)
        return None

    def file_complete(self, file_size: int) -> SealedUpload | None:
        if self._writer is None:
            # Shorter than a signature: too little to be a recording.
            self.problem = self.problem or ("empty" if not self._head else "not_media")
            return None
        self._writer.close()
        size = self._writer.size
        self._writer = None
        return SealedUpload(self.file_id, self._media_type, size)

    def upload_interrupted(self) -> None:
        if self._writer is not None:
            self._writer.abort()
            self._writer = None
