"""The Polars script and the floor query in benchmarks/ compute what `ally analyze` computes,
where they compute the same thing, so timing them beside it is fair."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from ally.engine.analyze import analyze
from ally.engine.options import Options

pytest.importorskip("polars")

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import floor_query  # noqa: E402
import generate  # noqa: E402
import polars_baseline  # noqa: E402

SESSION_KEYS = ["client", "measure", "session"]
SERIES_KEYS = ["client", "measure"]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("yardsticks")
    data = folder / "sessions.parquet"
    pq.write_table(generate.generate(4000, seed=11), data)
    analyze(
        Options(input=data, out=folder / "ally", format="parquet", progress=False, feedback=False)
    )
    sessions, episodes, rejected = polars_baseline.analyze(data)
    floor_query.run(data, folder / "floor")
    return {
        "ally_sessions": pd.read_parquet(folder / "ally" / "sessions.parquet"),
        "ally_episodes": pd.read_parquet(folder / "ally" / "episodes.parquet"),
        "ally_rejected": pd.read_csv(folder / "ally" / "rejected.csv"),
        "polars_sessions": sessions.to_pandas(),
        "polars_episodes": episodes.to_pandas(),
        "polars_rejected": rejected.to_pandas(),
        "floor_sessions": pd.read_parquet(folder / "floor" / "sessions.parquet"),
        "input": pd.read_parquet(data),
    }


def _paired(ally: pd.DataFrame, other: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    paired = ally.merge(other, on=keys, suffixes=("_ally", "_other"), validate="1:1")
    assert len(paired) == len(ally) == len(other)
    return paired


def _same(paired: pd.DataFrame, column: str) -> None:
    ally, other = paired[f"{column}_ally"], paired[f"{column}_other"]
    if pd.api.types.is_numeric_dtype(ally) and not pd.api.types.is_bool_dtype(ally):
        np.testing.assert_allclose(
            ally.to_numpy(float), other.to_numpy(float), rtol=0, atol=1e-9, err_msg=column
        )
        return
    left = ally.astype(object).where(ally.notna()).fillna("-").astype(str).to_numpy()
    right = other.astype(object).where(other.notna()).fillna("-").astype(str).to_numpy()
    differ = paired[left != right]
    assert differ.empty, f"{column} differs:\n{differ[[f'{column}_ally', f'{column}_other']]}"


def test_polars_rejects_the_same_rows(outputs: dict[str, pd.DataFrame]) -> None:
    assert len(outputs["ally_rejected"]) > 0
    assert list(outputs["ally_rejected"]["line"]) == list(outputs["polars_rejected"]["line"])


def test_polars_gives_every_sessions_column_as_ally_does(
    outputs: dict[str, pd.DataFrame],
) -> None:
    paired = _paired(outputs["ally_sessions"], outputs["polars_sessions"], SESSION_KEYS)
    # Prorated scores (a skipped item) are in the sample, so prorating is compared too.
    assert (paired["score_ally"] % 1 != 0).any()
    for column in ("episode", "clinician", "rater", "score", "band", "baseline", "change"):
        _same(paired, column)
    for column in ("rci", "reliable_change", "critical"):
        _same(paired, column)


def test_polars_gives_every_episodes_column_as_ally_does(
    outputs: dict[str, pd.DataFrame],
) -> None:
    paired = _paired(outputs["ally_episodes"], outputs["polars_episodes"], SERIES_KEYS)
    for column in ("sessions", "first_session", "last_session", "first_score", "last_score"):
        _same(paired, column)
    for column in ("change", "rci", "reliable_change", "category", "clinician"):
        _same(paired, column)
    for column in ("sudden_gains", "sudden_losses"):
        _same(paired, column)
    # Every category, an episode of one score and sudden gains and losses occur, so the
    # comparison is not vacuous.
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


def test_the_floor_sums_the_same_scores_and_counts_the_same_sessions(
    outputs: dict[str, pd.DataFrame],
) -> None:
    """The floor neither checks nor prorates: it agrees with ally on complete rows, and on the
    series none of whose rows ally rejected."""
    floor, given = outputs["floor_sessions"], outputs["input"]
    rejected = given.iloc[outputs["ally_rejected"]["line"].to_numpy() - 1]
    spoilt = set(zip(rejected["client"], rejected["measure"], strict=True))
    clean = [(c, m) not in spoilt for c, m in zip(floor["client"], floor["measure"], strict=True)]
    floor = floor[clean]
    paired = outputs["ally_sessions"].merge(floor, on=SESSION_KEYS, suffixes=("_ally", "_other"))
    assert len(paired) == len(floor) > 0
    answered = given.assign(
        answered=given.filter(like="item").notna().sum(axis=1),
        items=given["measure"].map(generate.MEASURES),
    )
    paired = paired.merge(answered[[*SESSION_KEYS, "answered", "items"]], on=SESSION_KEYS)
    complete = paired["answered"] == paired["items"]
    assert (~complete).any()
    assert complete.mean() > 0.5
    _same(paired[complete], "score")
    by_series = outputs["ally_episodes"].merge(
        floor.drop_duplicates(SERIES_KEYS), on=SERIES_KEYS, suffixes=("_ally", "_other")
    )
    _same(by_series, "sessions")
