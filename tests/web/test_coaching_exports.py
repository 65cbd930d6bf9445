"""A coaching practice's research export labels its columns for people in the practice's words:
no therapy word (test_coaching_words.THERAPY_WORDS) in a title, label or description. Column
names and category codes stay as they are: they are the export format's, the same for every
practice (research.tables.COACHING_LABELS says which)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from test_coaching_words import THERAPY_WORDS, coaching  # noqa: F401 (the fixture)

from ally.web.practice.models import Organisation
from ally.web.research.export import build

FORMAT = frozenset({"name", "path", "enum", "categories", "missingValues", "type", "format"})
"""What is the format's, not a label: names of files and columns, category codes, types."""


def _labels(node: Any, key: str = "") -> list[str]:
    """Every text of the data package a person reads: titles, labels, descriptions."""
    if isinstance(node, dict):
        return [t for k, v in node.items() if k not in FORMAT for t in _labels(v, k)]
    if isinstance(node, list):
        return [t for v in node for t in _labels(v, key)]
    return [node] if isinstance(node, str) else []


def test_a_coaching_practice_s_research_export_labels_speak_of_coaching(
    coaching: Organisation,  # noqa: F811
    tmp_path: Path,
) -> None:
    build(coaching, tmp_path, min_cell=1, rng=random.Random(1))
    package = json.loads((tmp_path / "datapackage.json").read_text(encoding="utf-8"))
    found = {
        text: {m.group(0) for m in THERAPY_WORDS.finditer(text)}
        for text in _labels(package)
        if THERAPY_WORDS.search(text)
    }
    assert found == {}
