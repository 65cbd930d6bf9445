"""`ally groups agreement` on a file: the published Shrout & Fleiss values, and the per-group
rwg(j) and AD_M it writes."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from ally.cli.main import cli
from ally.groups.agreement import agreement


@pytest.fixture
def members(shared_data: Path, tmp_path: Path) -> Path:
    """Shrout & Fleiss (1979): 6 targets (here: groups) x 4 judges (here: members), long."""
    ratings = pd.read_csv(shared_data / "shrout_fleiss_1979.csv").to_numpy()
    rows = [
        {"Group": f"g{t}", "score": v, "i1": v, "i2": min(9, v + 1)}
        for t, row in enumerate(ratings)
        for v in row
    ]
    rows.append({"Group": "", "score": 5, "i1": 5, "i2": 5})  # no group: left out
    path = tmp_path / "members.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _agreement_of_score(path: Path) -> str:
    """What `ally groups agreement` prints of the score column by the group column."""
    result = CliRunner().invoke(
        cli, ["groups", "agreement", str(path), "--group", "group", "--value", "score"]
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_the_iccs_of_a_value_are_the_published_one_way_values(members: Path) -> None:
    output = _agreement_of_score(members)
    # shared/data/README.md: ICC1 0.1657418 and ICC1k 0.4427971 (Shrout & Fleiss 1979).
    assert "ICC(1) 0.1657" in output
    assert "ICC(2) 0.4428" in output
    assert "24 members in 6 groups" in output
    assert "1 rows left out" in output


def test_items_write_rwg_j_and_ad_m_per_group(members: Path, tmp_path: Path) -> None:
    out = tmp_path / "agreement.csv"
    result = CliRunner().invoke(
        cli,
        [
            "groups",
            "agreement",
            str(members),
            "--group",
            "Group",
            "--items",
            "i1,i2",
            "--options",
            "9",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert [r["group"] for r in written] == [f"g{t}" for t in range(6)]
    frame = pd.read_csv(members).dropna(subset=["Group"])
    expected = agreement(frame[["i1", "i2"]].to_numpy(), frame["Group"].to_numpy(), 9)
    for row, want in zip(written, expected, strict=True):
        assert int(row["n"]) == want.n == 4
        assert float(row["rwg_j"]) == pytest.approx(want.rwg_j)
        assert float(row["ad_m"]) == pytest.approx(want.ad_m)
    assert not np.isnan([float(r["rwg_j"]) for r in written]).any()


def test_a_missing_column_and_a_missing_option_are_explained(members: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli, ["groups", "agreement", str(members), "--group", "Group", "--value", "nope"]
    )
    assert result.exit_code == 1
    assert "no column nope" in result.output
    assert "line" not in result.output.split("the file has")[1]
    result = runner.invoke(
        cli, ["groups", "agreement", str(members), "--group", "Group", "--items", "i1,i2"]
    )
    assert "give --options" in result.output


def test_scores_all_alike_have_iccs_that_cannot_be_estimated_and_say_why(tmp_path: Path) -> None:
    path = tmp_path / "alike.csv"
    path.write_text("group,score\na,5\na,5\nb,5\nb,5\n", encoding="utf-8")
    output = _agreement_of_score(path)
    assert "ICC(1) cannot be estimated" in output
    assert "ICC(2) cannot be estimated" in output
    assert "Every score is the same, within and between groups" in output
    assert "nan" not in output
