"""pytest imports test files by their base name (the test folders are not packages), so two files
of one name in different folders stop the whole run at collection: keep every name unique."""

from __future__ import annotations

from collections import Counter
from pathlib import Path


def test_no_two_test_files_share_a_name() -> None:
    names = Counter(p.name for p in Path(__file__).parent.rglob("test_*.py"))
    assert [name for name, n in names.items() if n > 1] == []
