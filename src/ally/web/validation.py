"""Validators for Django models whose text is typed outside Ally's forms (in `ally manage shell`,
as docs/deploy.md sets up a practice), by the one rule for typed text in `ally.web.text`."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from ally.web.text import LINE, TextRefusedError, clean


def practice_name(value: str) -> str:
    """A practice's name as stored: one line, without control, direction-changing or invisible
    characters (`text.LINE`), in NFC and stripped. It goes into the subject of every email to a
    client, where a line break is refused (and would be a 500), and onto every page."""
    try:
        name = clean(value, LINE)
    except TextRefusedError as exc:
        raise ValidationError(
            {"name": _("The practice's name: %(problem)s") % {"problem": exc}},
            code="text_refused",
        ) from None
    if not name:
        raise ValidationError({"name": _("Give the practice a name.")}, code="required")
    return name
