"""Encryption of backup files: AES-256-GCM over the dump in chunks, under a backup key the
operator holds apart from the backups.

A dump is encrypted as a sequence of chunks, each `length | nonce | ciphertext and tag`, with the
chunk's number and whether it is the last bound into its associated data together with the
manifest's SHA-256: a chunk moved, dropped, repeated or cut off at the end, or a manifest changed,
does not open (the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár, CRYPTO 2015,
with random 96-bit nonces; NIST SP 800-38D).

The key: `--key-file FILE`, else ALLY_BACKUP_KEY, else the data folder's `backup_key` (made at the
first backup, 0600). Each holds 32 random bytes in URL-safe base64. A backup names the key's id (a
hash of it, not the key), so a restore says which key it needs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ALGORITHM = "AES-256-GCM-STREAM"
KEY_FILE = "backup_key"
KEY_BYTES = 32
NONCE_BYTES = 12
CHUNK = 1 << 20
"""Plain bytes per chunk."""
LENGTH = struct.Struct(">I")


class BackupKeyError(Exception):
    """No backup key, or one that is not a key; the message says what to do."""


class ChunkError(Exception):
    """Encrypted data that do not open: `reason` is "cut short" or "changed"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def key_id(key: bytes) -> str:
    """A short name of the key that does not reveal it."""
    return hashlib.sha256(b"ally-backup-key|" + key).hexdigest()[:16]


def _decoded(text: str, source: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode())
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise BackupKeyError(
            f"The backup key in {source} is not a key Ally made: it must be {KEY_BYTES} bytes in "
            "URL-safe base64, as in the data folder's backup_key."
        )
    return key


def backup_key(folder: Path, key_file: Path | None, *, create: bool) -> tuple[bytes, bool] | None:
    """The backup key and whether it was made just now; None without one (and not `create`)."""
    if key_file is not None:
        try:
            return _decoded(key_file.read_text(), str(key_file)), False
        except OSError as exc:
            raise BackupKeyError(f"The backup key file {key_file} cannot be read: {exc}.") from None
    if text := os.environ.get("ALLY_BACKUP_KEY", "").strip():
        return _decoded(text, "ALLY_BACKUP_KEY"), False
    path = folder / KEY_FILE
    if path.exists():
        return _decoded(path.read_text(), str(path)), False
    if not create:
        return None
    key = secrets.token_bytes(KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(base64.urlsafe_b64encode(key).decode() + "\n")
    return key, True


def _associated(manifest_sha256: bytes, index: int, last: bool) -> bytes:
    return b"ally-backup|" + manifest_sha256 + struct.pack(">Q?", index, last)


def _chunks(source: IO[bytes]) -> Iterator[tuple[bytes, bool]]:
    """The source in chunks, each with whether it is the last (an empty source is one chunk)."""
    current = source.read(CHUNK)
    while True:
        following = source.read(CHUNK)
        yield current, not following
        if not following:
            return
        current = following


def encrypt(source: IO[bytes], target: IO[bytes], key: bytes, manifest_sha256: bytes) -> None:
    cipher = AESGCM(key)
    for index, (plain, last) in enumerate(_chunks(source)):
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + cipher.encrypt(nonce, plain, _associated(manifest_sha256, index, last))
        target.write(LENGTH.pack(len(sealed)) + sealed)


def decrypt(source: IO[bytes], key: bytes, manifest_sha256: bytes) -> Iterator[bytes]:
    """The plain chunks, each checked before it is given; ChunkError at the first that fails."""
    cipher = AESGCM(key)
    index = 0
    while True:
        head = source.read(LENGTH.size)
        if len(head) < LENGTH.size:
            raise ChunkError("cut short")
        (size,) = LENGTH.unpack(head)
        if size > CHUNK + NONCE_BYTES + 16:
            raise ChunkError("changed")
        sealed = source.read(size)
        if len(sealed) < size:
            raise ChunkError("cut short")
        nonce, body = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        for last in (False, True):
            try:
                plain = cipher.decrypt(nonce, body, _associated(manifest_sha256, index, last))
            except InvalidTag:
                continue
            yield plain
            if last:
                if source.read(1):
                    raise ChunkError("changed")
                return
            break
        else:
            raise ChunkError("changed")
        index += 1
