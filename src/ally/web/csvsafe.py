"""CSV files Ally's web app gives people to open in a spreadsheet, with no cell read as a formula.

A spreadsheet runs a cell that starts with "=", "+", "-" or "@" as a formula, and some also
after a tab or a carriage return; a member's email such as "=2+5@evil.example" would run in the
administrator's spreadsheet when they open the audit export ("CSV injection", OWASP). Every text
cell that starts so gets a single quote in front, which spreadsheets show as text and do not
run (OWASP's "CSV Injection" page). Numbers are left as they are: a number is no formula.
"""

from __future__ import annotations

from collections.abc import Iterable

FORMULA_STARTS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
"""OWASP's list (=, +, -, @, tab, carriage return), a line feed, and their full-width forms,
which some spreadsheets take for the ASCII ones."""


def cell(value: object) -> object:
    """`value` as a cell: text that a spreadsheet would run gets a leading single quote."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value
    return value


def row(values: Iterable[object]) -> list[object]:
    """A row for `csv.writer.writerow`, every cell through `cell`."""
    return [cell(value) for value in values]
