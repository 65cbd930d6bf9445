"""Fixtures shared by all of Ally's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

# The public reference data sits beside the checkout (../shared/data), not inside it.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of public reference datasets; tests that need it skip without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data not found at {SHARED_DATA} (it sits beside the checkout)")
    return SHARED_DATA
