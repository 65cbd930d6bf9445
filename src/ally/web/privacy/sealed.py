"""Sealing a row's identifying fields with AES-GCM under the client's data key.

A sealed value is one format byte, a random 96-bit nonce and the ciphertext with its tag
(NIST SP 800-38D). The associated data names the table, the columns, the row and the data key's
generation, so a sealed value copied into another row, another column or under another key
generation does not open: it is refused, not read as someone else's details.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.views.decorators.debug import sensitive_variables

if TYPE_CHECKING:
    from ally.web.privacy.keys import DataKey

Function = TypeVar("Function", bound=Callable[..., Any])

FORMAT = 1
"""The first byte of every sealed value, so that a later format can be told apart."""
NONCE_BYTES = 12
TAG_BYTES = 16


def secret_frames(function: Function) -> Function:
    """Keep the function's variables (keys, plain text) out of Django's error reports."""
    return cast(Function, sensitive_variables()(function))


class SealError(Exception):
    """A sealed value that does not open: changed bytes, another row's value or the wrong key."""


def context(table: str, columns: Sequence[str], row: int | str, generation: int) -> bytes:
    """The associated data that binds a sealed value to its place and its key."""
    return f"ally|{table}|{','.join(columns)}|{row}|{generation}".encode()


@secret_frames
def seal(plain: bytes, key: bytes, associated: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return bytes([FORMAT]) + nonce + AESGCM(key).encrypt(nonce, plain, associated)


@secret_frames
def unseal(sealed: bytes, key: bytes, associated: bytes) -> bytes:
    if len(sealed) < 1 + NONCE_BYTES + TAG_BYTES or sealed[0] != FORMAT:
        raise SealError("This sealed value is cut short or of an unknown format.")
    nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
    try:
        return AESGCM(key).decrypt(nonce, body, associated)
    except InvalidTag:
        raise SealError(
            "A sealed value does not open with its row's key: it was changed, moved from "
            "another row, or the row's key was replaced. Restore the row from a backup."
        ) from None


@secret_frames
def seal_fields(values: Mapping[str, str], key: DataKey, *, table: str, row: int) -> bytes:
    """Seal several text columns of one row together (one nonce, one tag)."""
    columns = sorted(values)
    plain = json.dumps({column: values[column] for column in columns}, separators=(",", ":"))
    return seal(plain.encode(), key.material, context(table, columns, row, key.generation))


@secret_frames
def open_fields(
    sealed: bytes, key: DataKey, *, table: str, columns: Sequence[str], row: int
) -> dict[str, str]:
    """The columns sealed by `seal_fields`; SealError when the value does not belong here."""
    columns = sorted(columns)
    plain = unseal(bytes(sealed), key.material, context(table, columns, row, key.generation))
    values = json.loads(plain)
    return {column: str(values.get(column, "")) for column in columns}
