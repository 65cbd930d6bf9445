"""A system check: a master key setting that cannot be used stops `ally serve` and `migrate` at
start, with the entry at fault, rather than at the first client page."""

from __future__ import annotations

import os
from typing import Any

from django.core.checks import CheckMessage, Error

from ally.web.privacy.keys import ENV, KeySettingError, key_file, parse_master_keys


def master_keys_usable(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    text, source = os.environ.get(ENV, "").strip(), ENV
    if not text:
        path = key_file()
        if not path.exists():
            return []  # made on first use
        text, source = path.read_text(), str(path)
    try:
        parse_master_keys(text, source)
    except KeySettingError as exc:
        return [Error(str(exc), id="privacy.E001")]
    return []
