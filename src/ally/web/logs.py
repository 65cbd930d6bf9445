"""Logging that cannot leak client data: records lose the request before any handler sees them,
and the signed token of a client's link is cut out of any path they name."""

from __future__ import annotations

import logging
import re

LINK = re.compile(r"/a/[^/\s?]+(?=[/?\s]|$)")
"""A client's link (respond:open): its token opens a questionnaire until answered or expired."""


def _masked(value: object) -> object:
    return LINK.sub("/a/<link>", value) if isinstance(value, str) else value


class DropRequest(logging.Filter):
    """Remove the request Django attaches to error records, so no handler can print its body,
    and mask link tokens in the message ("Gone: /a/<token>/")."""

    def filter(self, record: logging.LogRecord) -> bool:
        if hasattr(record, "request"):
            record.request = None
        if isinstance(record.msg, str):
            record.msg = _masked(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_masked(arg) for arg in record.args)
        return True
