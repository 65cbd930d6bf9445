"""The outputs of `ally analyze` for benchmark data, written in plain pandas as a researcher would.

The yardstick for benchmarks/run.py. It handles what benchmarks/generate.py writes (long format,
item columns, one episode per client, client-rated): item scoring with prorating, the row checks
that matter for such data, bands, the critical flag, baselines, reliable change (the measure's
published value in points where it has one, as ally analyze does by default, else Jacobson & Truax),
outcome categories at the published cut-off, and sudden gains by a groupby-apply over episodes.
The numbers come from the measure definitions; the rules are written here, in pandas.

    python benchmarks/pandas_baseline.py benchmarks/data/1m.parquet --out /tmp/out --format parquet
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd

from ally.change.sudden_gains import sudden_changes_in_series
from ally.measures.library import load_library
from ally.measures.schema import Measure

KEYS = ["client", "episode", "measure", "rater"]
# Two-tailed 5% critical value, qnorm(0.975) as in clinicalsignificance (not the rounded 1.96).
Z = NormalDist().inv_cdf(0.975)


def read(path: Path) -> pd.DataFrame:
    """The input, with `line` as ally numbers it: the CSV line (header = 1) or the Parquet row."""
    if path.suffix.lower() == ".csv":
        df = pd.read_csv(path, dtype={"client": str, "clinician": str, "measure": str})
        df.insert(0, "line", np.arange(len(df)) + 2)
    else:
        df = pd.read_parquet(path)
        df.insert(0, "line", np.arange(len(df)) + 1)
    return df


def score_measure(rows: pd.DataFrame, measure: Measure) -> pd.DataFrame:
    """Score, band and critical flag of one measure's rows, and a reason for each bad row."""
    n = len(measure.items)
    item_cols = [f"item{i}" for i in range(1, n + 1)]
    extra_cols = [c for c in rows.columns if c.startswith("item") and c not in item_cols]
    items = rows[item_cols].astype("float64")
    allowed = list(measure.response_of(measure.items[0]).values)

    answered = items.notna().sum(axis=1)
    total = items.sum(axis=1)
    if measure.scoring.prorate:
        total = total.where(answered == n, total * n / answered)

    reason = pd.Series(None, index=rows.index, dtype=object)
    bad_answer = (items.notna() & ~items.isin(allowed)).any(axis=1)
    reason[bad_answer] = f"an answer is not one {measure.id} allows"
    if extra_cols:
        reason[reason.isna() & rows[extra_cols].notna().any(axis=1)] = "too many items"
    too_few = reason.isna() & (answered < measure.scoring.min_answered)
    reason[too_few] = f"fewer than {measure.scoring.min_answered} items answered"

    bands = sorted(measure.bands, key=lambda b: b.min)
    band = pd.cut(
        total,
        bins=[b.min for b in bands] + [math.inf],
        labels=[b.label for b in bands],
        right=False,
    ).astype(object)

    # Endorsed is true; otherwise unknown when an item that must be answered was skipped.
    raised = pd.Series(False, index=rows.index)
    skipped = pd.Series(False, index=rows.index)
    for crit in measure.critical_items:
        answer = items[f"item{crit.item}"]
        raised |= answer >= crit.min_value
        if crit.must_answer:
            skipped |= answer.isna()
    critical = raised.astype("boolean").mask(~raised & skipped)
    return pd.DataFrame(
        {"score": total, "band": band, "critical": critical, "reason": reason}, index=rows.index
    )


def sudden_counts(episode: pd.DataFrame, cutoff: float, measure: Measure) -> tuple[int, int]:
    """Sudden gains and losses in one episode's series, sessions without a score left missing."""
    session = episode["session"].to_numpy()
    series = np.full(session.max(), np.nan)
    series[session - 1] = episode["score"].to_numpy()
    found = sudden_changes_in_series(series, cutoff=cutoff, direction=measure.direction)
    return len(found.gains), len(found.losses)


def analyze(
    df: pd.DataFrame, timings: dict[str, float] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(sessions, episodes, rejected) as `ally analyze` computes them for generated data.

    `timings`, if given, receives the seconds spent on the sudden-gains loop.
    """
    library = load_library()
    columns = list(df.columns)
    measures = {m: library.get(m) for m in df["measure"].dropna().unique()}
    df["episode"] = df["client"]
    df["rater"] = "client"

    # Score each measure's rows by its own rules.
    scored = pd.concat(
        [score_measure(df[df["measure"] == m], measure) for m, measure in measures.items()]
    )
    df = df.join(scored)
    duplicate = df["reason"].isna() & df.duplicated(subset=[*KEYS, "session"])
    df.loc[duplicate, "reason"] = "duplicate"
    rejected = df[df["reason"].notna()]
    sessions = df[df["reason"].isna()].sort_values([*KEYS, "session"])

    # Baseline: the first session's score of each episode.
    by_episode = sessions.groupby(KEYS, sort=False)
    sessions["baseline"] = by_episode["score"].transform("first")
    sessions["change"] = sessions["score"] - sessions["baseline"]

    episodes = by_episode.agg(
        clinician=("clinician", "first"),
        sessions=("score", "size"),
        first_session=("session", "min"),
        last_session=("session", "max"),
        first_score=("score", "first"),
        last_score=("score", "last"),
    ).reset_index()
    # A pre-post pair is two scores at two sessions: one score has no change.
    pair = episodes["last_session"] > episodes["first_session"]
    episodes["change"] = (episodes["last_score"] - episodes["first_score"]).where(pair)

    # Jacobson & Truax (1991): S_diff from the SD of the complete-case pre scores; a published
    # reliable change in points (NHS Talking Therapies: PHQ-9 6, GAD-7 4) takes its place, as
    # S_diff = points / z, with a change of exactly `points` counting.
    complete = episodes[pair].dropna(subset=["first_score", "last_score"])
    sd_pre = complete.groupby("measure")["first_score"].std()
    reliability = pd.Series({m: measure.reliability.value for m, measure in measures.items()})
    sign = pd.Series({m: measure.direction.sign for m, measure in measures.items()})
    cutoff = pd.Series({m: measure.clinical_cutoff for m, measure in measures.items()})
    s_diff = np.sqrt(2 * (sd_pre * np.sqrt(1 - reliability)) ** 2)
    critical = pd.Series(Z, index=s_diff.index)
    gain_cutoff = Z * s_diff
    for m, measure in measures.items():
        if measure.reliable_change is not None:
            points = measure.reliable_change.value
            s_diff[m], critical[m], gain_cutoff[m] = points / Z, Z * (1 - 1e-9), points

    for table, pre, post in (
        (sessions, "baseline", "score"),
        (episodes, "first_score", "last_score"),
    ):
        table["rci"] = (table[post] - table[pre]) / table["measure"].map(s_diff)
        towards_health = table["rci"] * table["measure"].map(sign)
        z = table["measure"].map(critical)
        table["reliable_change"] = np.select(
            [towards_health > z, towards_health < -z], ["improved", "deteriorated"], "unchanged"
        )

    # Categories at the published cut-off, a score at the cut-off counting as clinical.
    cut = episodes["measure"].map(cutoff)
    clinical_pre = episodes["first_score"] >= cut
    clinical_post = episodes["last_score"] >= cut
    improved = episodes["reliable_change"] == "improved"
    deteriorated = episodes["reliable_change"] == "deteriorated"
    episodes["category"] = np.select(
        [
            improved & clinical_pre & ~clinical_post,
            improved,
            deteriorated & ~clinical_pre & clinical_post,
            deteriorated,
        ],
        ["recovered", "improved", "harmed", "deteriorated"],
        "unchanged",
    )
    for column in ("rci", "reliable_change", "category"):
        episodes[column] = episodes[column].where(pair)

    # Sudden gains (Tang & DeRubeis 1999): criterion 1 is the reliable change value.
    start = time.perf_counter()
    counts = []
    for m, measure in measures.items():
        rcv = gain_cutoff[m]
        found = (
            sessions[sessions["measure"] == m]
            .groupby(KEYS, sort=False)[["session", "score"]]
            .apply(sudden_counts, cutoff=rcv, measure=measure)
        )
        counts.append(
            pd.DataFrame(
                found.tolist(), index=found.index, columns=["sudden_gains", "sudden_losses"]
            )
        )
    episodes = episodes.merge(pd.concat(counts).reset_index(), on=KEYS, how="left")
    if timings is not None:
        timings["sudden gains"] = time.perf_counter() - start

    sessions = sessions[
        [
            "client",
            "episode",
            "clinician",
            "session",
            "measure",
            "rater",
            "score",
            "band",
            "baseline",
            "change",
            "rci",
            "reliable_change",
            "critical",
        ]
    ]
    episodes = episodes[
        [
            "client",
            "episode",
            "clinician",
            "measure",
            "rater",
            "sessions",
            "first_session",
            "last_session",
            "first_score",
            "last_score",
            "change",
            "rci",
            "reliable_change",
            "category",
            "sudden_gains",
            "sudden_losses",
        ]
    ].sort_values(KEYS)
    rejected = rejected[["line", "reason", *columns[1:]]]
    return sessions, episodes, rejected


def write(table: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".csv":
        table.to_csv(path, index=False)
    else:
        table.to_parquet(path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    args = parser.parse_args()
    start = time.perf_counter()
    timings: dict[str, float] = {}
    sessions, episodes, rejected = analyze(read(args.input), timings)
    args.out.mkdir(parents=True, exist_ok=True)
    write(sessions, args.out / f"sessions.{args.format}")
    write(episodes, args.out / f"episodes.{args.format}")
    rejected.to_csv(args.out / "rejected.csv", index=False)
    print(
        f"{len(sessions):,} sessions, {len(episodes):,} episodes, {len(rejected):,} rejected "
        f"in {time.perf_counter() - start:.1f} s, of which sudden gains "
        f"{timings['sudden gains']:.1f} s"
    )


if __name__ == "__main__":
    main()
