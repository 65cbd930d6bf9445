"""Recordings at rest: each media file encrypted with its own random key, chunk by chunk, so
that a file of any size streams in and out and a seek decrypts only the chunks it needs.

A file is MAGIC, then chunks of CHUNK plain bytes (the last one shorter), each sealed with
AES-256-GCM (NIST SP 800-38D) under the file's key. The nonce is the chunk's number (a key
seals one file only, so no nonce repeats), and the associated data binds each chunk to its
file, its place and whether it is the last: chunks swapped, dropped or cut off do not open.
The file's key is sealed with the client's data key in the Recording row, never written here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from ally.web.privacy.sealed import secret_frames

MAGIC = b"ALLYMED1"
CHUNK = 256 * 1024
TAG = 16
FOLDER = "recordings"


class MediaError(Exception):
    """Media that does not open: changed, cut short, or under another key."""


def folder() -> Path:
    path = Path(settings.ALLY_DATA_DIR) / FOLDER
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def path_of(file_id: str) -> Path:
    if not file_id.isalnum():
        raise MediaError("A recording's file name is letters and digits only.")
    return folder() / f"{file_id}.media"


def _nonce(index: int) -> bytes:
    return index.to_bytes(12, "big")


def _associated(file_id: str, index: int, last: bool) -> bytes:
    return f"ally|ipr_media|{file_id}|{index}|{int(last)}".encode()


def chunk_count(size: int) -> int:
    return max(1, -(-size // CHUNK))


class SealedWriter:
    """Write plain media in pieces of any size; `close` seals the last chunk. The file is made
    with mode 0600 and refused if it exists."""

    @secret_frames
    def __init__(self, file_id: str, key: bytes) -> None:
        self._file_id = file_id
        self._aead = AESGCM(key)
        self._buffer = bytearray()
        self._index = 0
        self.size = 0
        self.path = path_of(file_id)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._out: BinaryIO = os.fdopen(fd, "wb")
        self._out.write(MAGIC)

    def _seal(self, plain: bytes, last: bool) -> None:
        nonce = _nonce(self._index)
        self._out.write(
            self._aead.encrypt(nonce, plain, _associated(self._file_id, self._index, last))
        )
        self._index += 1

    def write(self, data: bytes) -> None:
        self._buffer += data
        self.size += len(data)
        # Hold back at least one byte: only `close` knows which chunk is the last.
        while len(self._buffer) > CHUNK:
            self._seal(bytes(self._buffer[:CHUNK]), last=False)
            del self._buffer[:CHUNK]

    def close(self) -> None:
        self._seal(bytes(self._buffer), last=True)
        self._buffer.clear()
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()

    def abort(self) -> None:
        self._out.close()
        self.path.unlink(missing_ok=True)


@secret_frames
def read_range(file_id: str, key: bytes, size: int, first: int, last: int) -> Iterator[bytes]:
    """The plain bytes first..last (inclusive) of a file of `size` bytes, chunk by chunk."""
    aead = AESGCM(key)
    count = chunk_count(size)
    with path_of(file_id).open("rb") as source:
        if source.read(len(MAGIC)) != MAGIC:
            raise MediaError("This is not one of Ally's encrypted recordings.")
        for index in range(first // CHUNK, last // CHUNK + 1):
            source.seek(len(MAGIC) + index * (CHUNK + TAG))
            sealed = source.read(CHUNK + TAG)
            try:
                plain = aead.decrypt(
                    _nonce(index), sealed, _associated(file_id, index, index == count - 1)
                )
            except InvalidTag:
                raise MediaError(
                    "A chunk of this recording does not open: the file was changed or cut short."
                ) from None
            start = first - index * CHUNK if index == first // CHUNK else 0
            end = last - index * CHUNK + 1 if index == last // CHUNK else len(plain)
            yield plain[start:end]


def delete(file_id: str) -> None:
    """Remove the encrypted file (its key goes with the row's sealed words)."""
    path_of(file_id).unlink(missing_ok=True)


# What a file is, from its first bytes -------------------------------------------------------------

SNIFF_BYTES = 16


def media_type_of(head: bytes) -> str | None:
    """The audio or video type the first bytes show, or None when they show neither.

    Signatures: RIFF/WAVE (Microsoft RIFF), EBML for WebM and Matroska (RFC 9559), ISO base
    media "ftyp" boxes for MP4, M4A and QuickTime (ISO/IEC 14496-12), OggS (RFC 3533), fLaC,
    and ID3 tags or MPEG frame sync for MP3 (ISO/IEC 11172-3)."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "video/webm"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4"
        if brand == b"qt  ":
            return "video/quicktime"
        return "video/mp4"
    if head[:4] == b"OggS":
        return "audio/ogg"
    if head[:4] == b"fLaC":
        return "audio/flac"
    if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    return None
