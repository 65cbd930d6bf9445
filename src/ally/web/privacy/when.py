"""Moments in a client's data export (GDPR Art. 15): ISO 8601, or null where there is none."""

from __future__ import annotations

import datetime as dt


def iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None
