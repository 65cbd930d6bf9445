"""The audit hook: every `do_*` action calls `record` inside its transaction.

The entry (who, what, when, which row) joins the hash-chained log of ally.web.auditlog, in the
same transaction as the change, so a change is never stored without its entry. Never pass
answers, names or free text: the entry names rows by their keys.
"""

from __future__ import annotations

from typing import Any


def record(action: str, *, actor: Any, target: Any) -> None:
    """Audit `action` (e.g. "response.recorded") by `actor` (a Membership or None) on `target`."""
    from ally.web.auditlog.chain import append

    append(action, actor=actor, target=target)
