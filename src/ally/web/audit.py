"""The audit hook: every `do_*` action calls `record` inside its transaction.

The security issue writes the audit entry here (who, what, when, which row); until then it does
nothing. Never pass answers, names or free text: the entry names rows by their keys.
"""

from __future__ import annotations

from typing import Any


def record(action: str, *, actor: Any, target: Any) -> None:
    """Audit `action` (e.g. "response.recorded") by `actor` (a Membership or None) on `target`."""
    return None
