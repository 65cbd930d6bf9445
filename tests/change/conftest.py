"""The reference datasets of SPECS section 1.3, as the change tests use them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

PrePost = tuple[list[float], list[float]]


def _pre_post(shared_data: Path, column: str, complete: bool) -> PrePost:
    """claus_2020 `column` at time 1 (pre) and time 4 (post), one pair per id in id order."""
    data = pd.read_csv(shared_data / "claus_2020.csv")
    wide = data.pivot(index="id", columns="time", values=column).sort_index()
    pre, post = wide[1], wide[4]
    if complete:
        keep = pre.notna() & post.notna()
        pre, post = pre[keep], post[keep]

    # Missing scores stay NaN, as R and pandas give them.
    return [float(v) for v in pre], [float(v) for v in post]


@pytest.fixture
def bdi(shared_data: Path) -> PrePost:
    """All 43 patients (3 without both scores), so that position + 1 is the id."""
    return _pre_post(shared_data, "bdi", complete=False)


@pytest.fixture
def hamd(shared_data: Path) -> PrePost:
    """The 40 complete cases, in id order."""
    return _pre_post(shared_data, "hamd", complete=True)


@pytest.fixture
def sgdata(shared_data: Path) -> pd.DataFrame:
    return pd.read_csv(shared_data / "sgdata.csv")
