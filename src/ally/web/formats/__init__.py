"""Ally's date and time formats, one of each per language (Django's FORMAT_MODULE_PATH).

Every staff screen writes a day one way and a moment one way: DATE_FORMAT and its SHORT_ twin
are the same, and so are DATETIME_FORMAT and SHORT_DATETIME_FORMAT, so a template may name
either. English spells the month ("6 Dec 2026"), so that no reader takes 06/12 for June or
December; German writes the day as German readers expect it (06.12.2026). Times are on the
24-hour clock. Input formats are Django's (ISO dates are always accepted).
"""
