"""Logging that cannot leak client data: records lose the request before any handler sees them,
and the signed token of a client's link is cut out of any path they name. A refused request
(403, 404 and the other 4xx answers) is one line, without the traceback Django attaches."""

from __future__ import annotations

import logging
import re

LINK = re.compile(r"/a/[^/\s?]+(?=[/?\s]|$)")
"""A client's link (respond:open): its token opens a questionnaire until answered or expired."""


def _masked(value: object) -> object:
    return LINK.sub("/a/<link>", value) if isinstance(value, str) else value


def _refused(record: logging.LogRecord) -> bool:
    """A record of a 4xx answer (Django's `log_response` gives its status)."""
    status = getattr(record, "status_code", None)
    return isinstance(status, int) and 400 <= status < 500


class DropRequest(logging.Filter):
    """Remove the request Django attaches to error records, so no handler can print its body,
    mask link tokens in the message ("Gone: /a/<token>/"), and keep a refusal to one line.

    Django logs a PermissionDenied or a Http404 with its traceback: a dozen lines for each 403
    a role's rule gives, which bury the errors that need a person. The line keeps what Django
    puts in it: the reason and the path, without its query string.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if hasattr(record, "request"):
            record.request = None
        if _refused(record):
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
        if isinstance(record.msg, str):
            record.msg = _masked(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_masked(arg) for arg in record.args)
        return True
