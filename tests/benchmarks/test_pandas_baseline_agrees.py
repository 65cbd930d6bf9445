"""The pandas baseline in benchmarks/ computes what `ally analyze` does, so timing it is fair."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from ally.engine.analyze import analyze
from ally.engine.options import Options

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import generate  # noqa: E402
import pandas_baseline  # noqa: E402

KEYS = ["client", "measure", "session"]
EPISODE_KEYS = ["client", "measure"]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("baseline")
    data = folder / "sessions.parquet"
    pq.write_table(generate.generate(3000, seed=7), data)
    analyze(Options(input=data, out=folder / "ally", format="parquet", progress=False))
    sessions, episodes, rejected = pandas_baseline.analyze(pandas_baseline.read(data))
    return {
        "ally_sessions": pd.read_parquet(folder / "ally" / "sessions.parquet"),
        "ally_episodes": pd.read_parquet(folder / "ally" / "episodes.parquet"),
        "ally_rejected": pd.read_csv(folder / "ally" / "rejected.csv"),
        "pandas_sessions": sessions,
        "pandas_episodes": episodes,
        "pandas_rejected": rejected,
    }


def _paired(outputs: dict[str, pd.DataFrame], table: str, keys: list[str]) -> pd.DataFrame:
    ally, baseline = outputs[f"ally_{table}"], outputs[f"pandas_{table}"]
    paired = ally.merge(baseline, on=keys, suffixes=("_ally", "_pandas"), validate="1:1")
    assert len(paired) == len(ally) == len(baseline)
    return paired


def _same_numbers(paired: pd.DataFrame, column: str) -> None:
    np.testing.assert_allclose(
        paired[f"{column}_ally"].to_numpy(float),
        paired[f"{column}_pandas"].to_numpy(float),
        rtol=0,
        atol=1e-9,
        err_msg=column,
    )


def _same_labels(paired: pd.DataFrame, column: str) -> None:
    ally = paired[f"{column}_ally"].astype(object).where(paired[f"{column}_ally"].notna())
    baseline = paired[f"{column}_pandas"].astype(object).where(paired[f"{column}_pandas"].notna())
    differ = paired[ally.fillna("-").to_numpy() != baseline.fillna("-").to_numpy()]
    assert differ.empty, f"{column} differs:\n{differ.head()}"


def test_both_reject_the_same_rows(outputs: dict[str, pd.DataFrame]) -> None:
    assert len(outputs["ally_rejected"]) > 0
    assert list(outputs["ally_rejected"]["line"]) == list(outputs["pandas_rejected"]["line"])


def test_sessions_have_the_same_scores_baselines_and_reliable_change(
    outputs: dict[str, pd.DataFrame],
) -> None:
    paired = _paired(outputs, "sessions", KEYS)
    # Prorated scores (a skipped item) are in the sample, so prorating is compared too.
    assert (paired["score_ally"] % 1 != 0).any()
    for column in ("score", "baseline", "change", "rci"):
        _same_numbers(paired, column)
    for column in ("band", "reliable_change", "critical"):
        _same_labels(paired, column)


def test_episodes_have_the_same_change_categories_and_sudden_gains(
    outputs: dict[str, pd.DataFrame],
) -> None:
    paired = _paired(outputs, "episodes", EPISODE_KEYS)
    for column in ("sessions", "first_session", "last_session", "first_score", "last_score"):
        _same_numbers(paired, column)
    for column in ("change", "rci", "sudden_gains", "sudden_losses"):
        _same_numbers(paired, column)
    for column in ("reliable_change", "category", "clinician"):
        _same_labels(paired, column)
    # Every category, an episode of one score (it has none) and some sudden gains and losses
    # occur, so the comparison is not vacuous.
    assert set(paired["category_ally"].dropna()) == {
        "recovered",
        "improved",
        "unchanged",
        "deteriorated",
        "harmed",
    }
    assert paired["category_ally"].isna().any()
    assert paired["sudden_gains_ally"].sum() > 0
    assert paired["sudden_losses_ally"].sum() > 0
