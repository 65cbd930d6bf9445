"""Text a person types into Ally: one rule for every form field and API field that takes it.

Three kinds of text, each with its rule (`CODE`, `LINE`, `NOTE`). What all three refuse, with a
message naming the character and where it is:

- control characters, NUL above all: PostgreSQL cannot store NUL in text, and none of them is
  anything a person means to type (they come with pasted text);
- characters that change the direction of the text around them (U+202A to U+202E, U+2066 to
  U+2069): they make stored text display other than it reads ("Trojan Source",
  CVE-2021-42574), so a code or a note could look like another on screen and in exports;
- other invisible characters (zero width space, word joiner, byte order mark), which make two
  texts that look the same differ;
- broken characters (lone surrogates), which cannot be stored as UTF-8.

Refused rather than removed: silently dropping a character would store something other than
what the person saw, and they are rare enough that a message costs little.

Text that passes is normalised (see each rule for which form and why), stripped of spaces at
either end, and only then measured against the field's maximum length, which is what is stored.

Markup is not refused: `<script>` in a note is stored as typed and escaped wherever it is shown
(templates autoescape; nothing typed is marked safe).

Two smaller rules for text that comes from outside and names something: a submission key
(`submission_key`) and a download's file name (`file_name`, `attachment`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

from django import forms
from django.utils.translation import gettext as _
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

DIRECTION_CONTROLS = frozenset(
    [chr(c) for c in range(0x202A, 0x202F)] + [chr(c) for c in range(0x2066, 0x206A)]
)
"""Embeddings, overrides (U+202A to U+202E) and isolates (U+2066 to U+2069)."""

JOINERS_AND_MARKS = frozenset("\u200c\u200d\u200e\u200f\u061c")
"""Invisible characters that names and notes need: the zero width non-joiner and joiner spell
Persian, Arabic and Indic names (and join emoji); the left-to-right, right-to-left and Arabic
letter marks settle punctuation next to right-to-left text and, unlike the controls above,
cannot reorder a run of text."""

NOTE_MAX_LENGTH = 2000
"""Longest note a member may write about an alert, on the page and through the API."""


@dataclass(frozen=True)
class TextRule:
    """How one kind of text is checked and normalised."""

    name: str
    normal_form: Literal["NFC", "NFKC"]
    """The Unicode normal form stored (see the rules below for why each)."""
    lines: bool
    """Whether line breaks (and tabs) belong in it."""
    invisible_allowed: frozenset[str]
    """Invisible formatting characters (Unicode category Cf) it keeps."""


CODE = TextRule("code", "NFKC", lines=False, invisible_allowed=frozenset())
"""A client's code (C-0142). NFKC, as for identifiers in Python and IDNA: full-width or
superscript forms an input method may produce ("Ｃ-０１４２") become the plain letters and digits,
so one code is stored one way and the practice's uniqueness of codes holds for what people
see. No invisible character at all: a code is read aloud, typed, and compared."""

LINE = TextRule("line", "NFC", lines=False, invisible_allowed=JOINERS_AND_MARKS)
"""One line of free text: a name, a phone number, a role in a care team. NFC, which changes no
visible character, only how it is encoded: a name typed on a Mac arrives decomposed ("e" and a
combining accent), and NFC stores it as the same characters as the same name typed elsewhere.
Not NFKC: that would change what a person wrote (a name's "ﬁ" ligature, a superscript)."""

NOTE = TextRule("note", "NFC", lines=True, invisible_allowed=JOINERS_AND_MARKS)
"""Several lines: what was done about an alert. NFC as for `LINE`; line ends become "\\n"."""


class TextRefusedError(ValueError):
    """Text Ally does not store; the message names the character, where it is and what to do."""


def _codepoint(char: str) -> str:
    return f"U+{ord(char):04X}"


def _problem(char: str, rule: TextRule) -> str | None:
    """What is wrong with one character under `rule`, as a message template, or None."""
    category = unicodedata.category(char)
    if category == "Cs":
        return _(
            "Character %(position)s is broken (half of a surrogate pair, %(codepoint)s) and "
            "cannot be stored; type the text again."
        )
    if char in "\n\r\t" or category in ("Zl", "Zp"):
        if rule.lines:
            return None
        return _(
            "Character %(position)s is a line break or a tab; this field takes one line, so "
            "write it on one line."
        )
    if category == "Cc":
        return _(
            "Character %(position)s is an invisible control character (%(codepoint)s), which "
            "cannot be stored; delete it (it may have come with pasted text)."
        )
    if char in DIRECTION_CONTROLS:
        return _(
            "Character %(position)s (%(codepoint)s) changes the direction of the text around "
            "it, so the text would show other than it reads; delete it."
        )
    if category == "Cf" and char not in rule.invisible_allowed:
        return _(
            "Character %(position)s is an invisible character (%(codepoint)s); delete it (it "
            "may have come with pasted text)."
        )
    return None


_LINE_ENDS = re.compile("\r\n|\r|\u2028|\u2029")


def clean(value: str, rule: TextRule) -> str:
    """`value` normalised by `rule` and stripped; TextRefusedError if it holds a refused
    character (the message counts characters from 1, as typed)."""
    for position, char in enumerate(value, start=1):
        problem = _problem(char, rule)
        if problem is not None:
            raise TextRefusedError(problem % {"position": position, "codepoint": _codepoint(char)})
    text = unicodedata.normalize(rule.normal_form, value)
    if rule.lines:
        text = _LINE_ENDS.sub("\n", text)
    return text.strip()


class TextField(forms.CharField):
    """A form field for typed text, checked and normalised by `rule` before its length is."""

    def __init__(self, *, rule: TextRule, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rule = rule

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value)
        if not text:
            return text
        try:
            return clean(str(text), self.rule)
        except TextRefusedError as exc:
            raise forms.ValidationError(str(exc), code="text_refused") from None


def api_validator(rule: TextRule) -> AfterValidator:
    """For an API field of typed text: `Annotated[str, Field(max_length=...), api_validator(NOTE)]`
    checks it as the form fields do (after pydantic's own checks, which measure the text as
    sent)."""

    def check(value: str) -> str:
        try:
            return clean(value, rule)
        except TextRefusedError as exc:
            # A custom error keeps pydantic's "Value error, " prefix out of the message.
            raise PydanticCustomError("text_refused", "{reason}", {"reason": str(exc)}) from None

    return AfterValidator(check)


# --- Submission keys -----------------------------------------------------------------------

SUBMISSION_KEY = re.compile(r"[!-~]{1,100}")
"""An idempotency key as a caller chooses it: 1 to 100 visible ASCII characters, no spaces (a
UUID will do). Nothing else reaches the database: PostgreSQL refuses NUL in text."""


def submission_key(value: str) -> str:
    """`value` if it is a submission key, else "" (the caller then makes a fresh one)."""
    return value if SUBMISSION_KEY.fullmatch(value) else ""


# --- File names ----------------------------------------------------------------------------

_UNSAFE_IN_FILE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def file_name(*parts: str, suffix: str) -> str:
    """A download's file name built from `parts` (a client code, an organisation's slug, a
    date): ASCII letters, digits, dots, dashes and underscores only, so no part can add a
    folder ("../"), a quote that ends the header's value, or a control character."""
    words = [_UNSAFE_IN_FILE_NAME.sub("-", part).strip(".-") for part in parts]
    stem = "-".join(word for word in words if word) or "ally"
    return f"{stem[:100]}.{_UNSAFE_IN_FILE_NAME.sub('', suffix)}"


def attachment(*parts: str, suffix: str) -> str:
    """A Content-Disposition header value that downloads as `file_name(*parts, suffix=...)`."""
    # The name is plain ASCII without quotes, so it needs no RFC 6266 `filename*` form.
    return f'attachment; filename="{file_name(*parts, suffix=suffix)}"'
