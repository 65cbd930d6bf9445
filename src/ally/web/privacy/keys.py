"""Master keys (KEKs) and each client's data key (DEK).

Master keys come from ALLY_ENCRYPTION_KEYS ("version:base64key", comma-separated, newest first)
or, without it, from the data folder's `encryption_keys` file (same format, one key a line),
generated on first start with mode 0600, like Django's secret key. They are never stored in the
database, so a copy of the database alone opens nothing. Each client has its own 256-bit data key,
stored wrapped by a master key (AES-GCM, bound to the client and both keys' versions): destroying
that one row makes the client's sealed details unreadable, whatever copies of them remain.

No function here logs a key or puts one in a message; frames holding keys are marked sensitive,
so Django's error reports leave their variables out.
"""

from __future__ import annotations

import base64
import binascii
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection, transaction

from ally.web.privacy.sealed import SealError, seal, secret_frames, unseal

ENV = "ALLY_ENCRYPTION_KEYS"
FILE_NAME = "encryption_keys"
KEY_BYTES = 32
"""AES-256 for master and data keys alike."""


class KeySettingError(ImproperlyConfigured):
    """ALLY_ENCRYPTION_KEYS or the key file cannot be used; the message says which entry."""


class KeyUnavailableError(Exception):
    """A key needed to open a client's details is missing or does not fit."""


@dataclass(frozen=True)
class MasterKey:
    version: int
    material: bytes = field(repr=False)


@dataclass(frozen=True)
class MasterKeys:
    """The configured master keys, newest first, and where they came from (for messages)."""

    keys: tuple[MasterKey, ...]
    source: str

    @property
    def newest(self) -> MasterKey:
        return self.keys[0]

    def get(self, version: int) -> MasterKey:
        for key in self.keys:
            if key.version == version:
                return key
        raise KeyUnavailableError(
            f"Master key version {version} is not among the keys in {self.source} "
            f"(versions {', '.join(str(k.version) for k in self.keys)}). Put it back, newest "
            "first, then run `ally manage rotate_keys` before removing it again."
        )


@dataclass(frozen=True)
class DataKey:
    """A client's data key; `generation` counts the keys the client has had (1, 2, ...)."""

    generation: int
    material: bytes = field(repr=False)


@secret_frames
def _decode(entry: str, position: int, source: str) -> MasterKey:
    # Messages name the entry's position, never its text: the text is the key.
    version_text, sep, encoded = entry.partition(":")
    if not sep or not version_text.strip().isdigit() or int(version_text) < 1:
        raise KeySettingError(
            f"{source}: entry {position} is not 'version:base64key' with a version of 1 or more."
        )
    try:
        material = base64.b64decode(
            encoded.strip().replace("-", "+").replace("_", "/"), validate=True
        )
    except (binascii.Error, ValueError):
        raise KeySettingError(f"{source}: the key of entry {position} is not base64.") from None
    if len(material) != KEY_BYTES:
        raise KeySettingError(
            f"{source}: the key of entry {position} is {len(material)} bytes long; master keys "
            f"are {KEY_BYTES} random bytes, base64-encoded (see `ally manage rotate_keys --help`)."
        )
    return MasterKey(int(version_text), material)


@secret_frames
def parse_master_keys(text: str, source: str) -> MasterKeys:
    """Keys from "version:base64key" entries, separated by commas or lines, newest first."""
    entries = [e.strip() for e in text.replace("\n", ",").split(",")]
    keys = tuple(_decode(e, n, source) for n, e in enumerate(filter(None, entries), start=1))
    if not keys:
        raise KeySettingError(f"{source} holds no key; give at least one 'version:base64key'.")
    versions = [key.version for key in keys]
    if len(set(versions)) != len(versions):
        raise KeySettingError(f"{source} names a key version twice; each version is one key.")
    if versions[0] != max(versions):
        raise KeySettingError(
            f"{source} must list the newest key (the highest version) first; it starts with "
            f"version {versions[0]} but also has version {max(versions)}."
        )
    return MasterKeys(keys, source)


def key_file() -> Path:
    # Read at call time: the data folder is chosen by `ally serve --data-dir` and by tests.
    return Path(settings.ALLY_DATA_DIR) / FILE_NAME


@lru_cache(maxsize=8)
def _from_text(text: str, source: str) -> MasterKeys:
    return parse_master_keys(text, source)


@lru_cache(maxsize=8)
def _from_file(path: str, _mtime_ns: int, _size: int) -> MasterKeys:
    return parse_master_keys(Path(path).read_text(), path)


def _keys_already_wrapped() -> bool:
    from ally.web.privacy.models import ClientKey

    table = ClientKey._meta.db_table
    return table in connection.introspection.table_names() and ClientKey.objects.exists()


@secret_frames
def _written_beside(path: Path, content: str) -> str:
    """A new file next to `path` holding `content`, on disk and readable by this user only
    (mkstemp's mode 0600); returns its name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".encryption_keys.")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        os.unlink(temporary)
        raise
    return temporary


def _write_new_file(path: Path, content: str) -> None:
    """Create the file whole, unless it exists: linked into place from beside it, so two
    processes starting together neither overwrite each other's key nor read an empty file."""
    temporary = _written_beside(path, content)
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(temporary)


@secret_frames
def _new_key_line(version: int) -> str:
    return f"{version}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}\n"


def master_keys() -> MasterKeys:
    """The master keys in force: ALLY_ENCRYPTION_KEYS, else the data folder's key file."""
    if text := os.environ.get(ENV, "").strip():
        return _from_text(text, ENV)
    path = key_file()
    if not path.exists():
        if _keys_already_wrapped():
            # A new key would wrap new clients while the existing ones stay unreadable.
            raise KeySettingError(
                f"The master key file {path} is missing, but clients' data keys are stored "
                f"wrapped by a master key. Put the file back (or set {ENV}); a new key would "
                "not open them."
            )
        _write_new_file(path, _new_key_line(1))
    stat = path.stat()
    return _from_file(str(path), stat.st_mtime_ns, stat.st_size)


def add_master_key() -> MasterKey:
    """Put a newly generated master key first in the data folder's key file; the old ones stay
    until `rotate_keys` has re-wrapped every data key."""
    if os.environ.get(ENV, "").strip():
        raise KeySettingError(
            f"The master keys come from {ENV}, which Ally does not change. Generate a key "
            "(32 random bytes, base64-encoded), put 'version:key' first in it with a higher "
            "version, restart, then run `ally manage rotate_keys`."
        )
    current = master_keys()
    path = key_file()
    text = path.read_text()
    version = max(k.version for k in current.keys) + 1
    # Swapped in whole, so a crash leaves the old file or the new one.
    temporary = _written_beside(path, _new_key_line(version) + text)
    try:
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return master_keys().newest


# Data keys ---------------------------------------------------------------------------------------


def _wrap_context(client_id: int, generation: int, master_version: int) -> bytes:
    return (
        f"ally|privacy_clientkey|client={client_id}|dek={generation}|kek={master_version}".encode()
    )


@secret_frames
def wrap(material: bytes, client_id: int, generation: int, master: MasterKey) -> bytes:
    return seal(material, master.material, _wrap_context(client_id, generation, master.version))


@secret_frames
def unwrap(row: Any) -> DataKey:
    """The data key of a ClientKey row (or a migration's historical row with the same fields)."""
    master = master_keys().get(row.master_version)
    try:
        material = unseal(
            bytes(row.wrapped),
            master.material,
            _wrap_context(row.client_id, row.generation, row.master_version),
        )
    except SealError:
        raise KeyUnavailableError(
            f"The data key of client {row.client_id} does not open with master key version "
            f"{row.master_version}: that master key was replaced by another with the same "
            "version, or the row was changed. Restore the right key or the row from a backup."
        ) from None
    return DataKey(row.generation, material)


@secret_frames
def fresh_key_fields(client_id: int, generation: int) -> tuple[DataKey, dict[str, Any]]:
    """A new random data key and the ClientKey fields that store it wrapped by the newest
    master key."""
    master = master_keys().newest
    material = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
    fields = {
        "generation": generation,
        "master_version": master.version,
        "wrapped": wrap(material, client_id, generation, master),
    }
    return DataKey(generation, material), fields


def data_key_for(
    client_id: int, *, create: bool = False, known: Any = None, lock: bool = False
) -> DataKey:
    """The client's data key; with `create`, a new one when the client has none yet.

    `known` is the client's ClientKey row when the caller has it (select_related) already.
    With `lock` (inside a transaction), the key's row stays locked until it ends, so a renewal
    of data keys (`rotate_keys --data-keys`) waits for what is sealed now, or goes first.
    """
    from ally.web.privacy.models import ClientKey

    rows = ClientKey.objects.select_for_update() if lock else ClientKey.objects
    row = known if known is not None else rows.filter(client_id=client_id).first()
    if row is not None:
        return unwrap(row)
    if not create:
        raise KeyUnavailableError(
            f"Client {client_id} has no data key: their details were erased, or never stored."
        )
    key, fields = fresh_key_fields(client_id, 1)
    try:
        with transaction.atomic():
            ClientKey.objects.create(client_id=client_id, **fields)
    except IntegrityError:
        # Another request gave the client a key first: use that one.
        return unwrap(ClientKey.objects.get(client_id=client_id))
    return key


class KeyRing:
    """Clients' data keys for opening many rows: read in a few queries and unwrapped once each,
    held no longer than the ring (never in a cache that would outlive an erasure)."""

    BATCH = 500
    """Clients per query: below SQLite's smallest limit of bound parameters (999)."""

    def __init__(self, client_ids: Iterable[int] = ()) -> None:
        self._keys: dict[int, DataKey] = {}
        self.load(client_ids)

    @secret_frames
    def load(self, client_ids: Iterable[int]) -> KeyRing:
        """Read the keys of these clients (those not held yet)."""
        from ally.web.privacy.models import ClientKey

        wanted = sorted(set(client_ids) - set(self._keys))
        for start in range(0, len(wanted), self.BATCH):
            for row in ClientKey.objects.filter(client_id__in=wanted[start : start + self.BATCH]):
                self._keys[row.client_id] = unwrap(row)
        return self

    def key(self, client_id: int) -> DataKey:
        """The client's data key; KeyUnavailableError when they have none."""
        if client_id not in self._keys:
            self._keys[client_id] = data_key_for(client_id)
        return self._keys[client_id]
