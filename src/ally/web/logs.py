"""Logging that cannot leak client data: records lose the request before any handler sees them."""

from __future__ import annotations

import logging


class DropRequest(logging.Filter):
    """Remove the request Django attaches to error records, so no handler can print its body."""

    def filter(self, record: logging.LogRecord) -> bool:
        if hasattr(record, "request"):
            record.request = None
        return True
