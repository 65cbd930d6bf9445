"""Template helpers of the client's pages."""

from __future__ import annotations

import re

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

PHONE = re.compile(r"\+?\d[\d ()./-]{4,}\d")
"""A phone number as people write one: digits with spaces, dots, dashes or brackets."""


def phone_links(text: str) -> SafeString:
    """The text, escaped, with each phone number a link that calls it on a phone."""
    escaped = str(escape(text))

    def link(found: re.Match[str]) -> str:
        number = found.group(0)
        digits = ("+" if number.startswith("+") else "") + re.sub(r"\D", "", number)
        # `number` is a run of digits and punctuation from the escaped text: safe as it is.
        return str(format_html('<a href="tel:{}">{}</a>', digits, mark_safe(number)))

    return mark_safe(PHONE.sub(link, escaped))


register.filter("phone_links", phone_links)
