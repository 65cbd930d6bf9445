"""The `--no-feedback` outputs of `ally analyze` for benchmark data, vectorised in Polars.

A yardstick for benchmarks/run.py: what a competent user would write in a dataframe library
with a query optimiser, without Python code per episode. It handles what benchmarks/generate.py
writes (long format, item columns, one episode per client, client-rated): item scoring with
prorating, the row checks that matter for such data, duplicates, bands, the critical flag,
baselines, reliable change (the measure's published value in points where it has one, as ally
analyze does by default, else Jacobson & Truax 1991), outcome categories at the published
cut-off, and sudden gains (Tang & DeRubeis 1999) by shifts within each series, sorted once by
series and session. The numbers come from the measure definitions; the rules are written here.

    python benchmarks/polars_baseline.py benchmarks/data/1m.parquet --out /tmp/out
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from statistics import NormalDist

import polars as pl

from ally.change.sudden_gains import t_critical
from ally.measures.library import load_library
from ally.measures.schema import Measure

SERIES = ["client", "measure"]
# Two-tailed 5% critical value, qnorm(0.975) as in clinicalsignificance (not the rounded 1.96).
Z = NormalDist().inv_cdf(0.975)
# Criterion 3's critical t by degrees of freedom, with Lutz et al. (2013)'s adjustment for
# missing values (suddengains' identify_sg: 2.776, 3.182, 4.303 on 4, 3, 2 df).
T_BY_DF = {df: t_critical(0.05, df) for df in (2, 3, 4)}


def _items(measure: Measure) -> list[str]:
    return [f"item{k}" for k in range(1, len(measure.items) + 1)]


def scored(rows: pl.LazyFrame, measure: Measure, extra: list[str]) -> pl.LazyFrame:
    """One measure's rows with score, band, critical flag and the reason a bad row is rejected."""
    items = _items(measure)
    n = len(items)
    allowed = [float(v) for v in measure.response_of(measure.items[0]).values]
    answered = pl.sum_horizontal(pl.col(c).is_not_null().cast(pl.Int64) for c in items)
    total = pl.sum_horizontal(pl.col(c).cast(pl.Float64).fill_null(0.0) for c in items)
    if measure.scoring.prorate:
        total = pl.when(answered < n).then(total * n / answered).otherwise(total)
    bad_answer = pl.any_horizontal(
        pl.col(c).is_not_null() & ~pl.col(c).cast(pl.Float64).is_in(allowed) for c in items
    )
    too_many = pl.any_horizontal(pl.col(c).is_not_null() for c in extra) if extra else pl.lit(False)
    reason = (
        pl.when(bad_answer)
        .then(pl.lit(f"an answer is not one {measure.id} allows"))
        .when(too_many)
        .then(pl.lit("too many items"))
        .when(answered < measure.scoring.min_answered)
        .then(pl.lit(f"fewer than {measure.scoring.min_answered} items answered"))
    )
    band: pl.Expr = pl.lit(None, dtype=pl.String)
    for b in sorted(measure.bands, key=lambda b: b.min):
        band = pl.when(pl.col("score") >= b.min).then(pl.lit(b.label)).otherwise(band)
    raised = pl.lit(False)
    skipped = pl.lit(False)
    for crit in measure.critical_items:
        answer = pl.col(f"item{crit.item}")
        raised = raised | (answer >= crit.min_value).fill_null(False)
        if crit.must_answer:
            skipped = skipped | answer.is_null()
    # Endorsed is true; otherwise unknown when an item that must be answered was skipped.
    critical = pl.when(raised).then(True).when(skipped).then(None).otherwise(False)
    return (
        rows.filter(pl.col("measure") == measure.id)
        .with_columns(score=total, reason=reason, critical=critical)
        .with_columns(band=band)
    )


def _at(offset: int) -> pl.Expr:
    """The series' score at session + offset (null where that session has no score): the row
    holding it is at most |offset| rows away, since sessions rise within a series."""
    if offset == 0:
        return pl.col("score")
    step = -1 if offset > 0 else 1
    found: pl.Expr = pl.lit(None, dtype=pl.Float64)
    for k in range(abs(offset), 0, -1):
        there = pl.col("session").shift(step * k) == pl.col("session") + offset
        same = pl.col("_series").shift(step * k) == pl.col("_series")
        found = pl.when(there & same).then(pl.col("score").shift(step * k)).otherwise(found)
    return found


def sudden_changes(sign: pl.Expr, cutoff: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Whether the interval from each row's session to the next is a sudden gain, and a loss
    (Tang & DeRubeis 1999, with suddengains' handling of missing values; see
    ally.change.sudden_gains), on rows sorted by series and session."""
    pre = [_at(k) for k in (-2, -1, 0)]
    post = [_at(k) for k in (1, 2, 3)]

    def moments(window: list[pl.Expr]) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
        count = pl.sum_horizontal(v.is_not_null().cast(pl.Float64) for v in window)
        mean = pl.sum_horizontal(v.fill_null(0.0) for v in window) / pl.max_horizontal(count, 1)
        squares = pl.sum_horizontal(((v - mean) ** 2).fill_null(0.0) for v in window)
        return count, mean, squares

    n_pre, mean_pre, ss_pre = moments(pre)
    n_post, mean_post, ss_post = moments(post)
    dof = n_pre + n_post - 2
    t: pl.Expr = pl.lit(None, dtype=pl.Float64)
    for df, value in T_BY_DF.items():
        t = pl.when(dof == df).then(value).otherwise(t)
    threshold = t * ((ss_pre + ss_post) / dof).sqrt()
    shift = sign * (mean_post - mean_pre)
    pregain, after = pl.col("score"), post[0]
    improvement = sign * (after - pregain)
    # suddengains tests the intervals from session 2 to the series' last but two.
    testable = (
        (pl.col("session") >= 2)
        & (pl.col("session") <= pl.col("session").max().over("_series") - 2)
        & after.is_not_null()
        & (n_pre >= 2)
        & (n_post >= 2)
    )
    gain = (
        testable & (improvement >= cutoff) & (improvement >= 0.25 * pregain) & (shift > threshold)
    )
    loss = (
        testable
        & (-improvement >= cutoff)
        & (-improvement >= 0.25 * pregain)
        & (-shift > threshold)
    )
    return gain.fill_null(False), loss.fill_null(False)


def analyze(path: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(sessions, episodes, rejected) as `ally analyze --no-feedback` computes them."""
    library = load_library()
    source = pl.read_parquet(path).with_row_index("line", offset=1).lazy()
    names = [c for c in source.collect_schema().names() if c != "line"]
    present = set(source.select("measure").unique().collect()["measure"].drop_nulls())
    measures = {m: library.get(m) for m in sorted(present)}
    item_columns = [c for c in names if c.startswith("item")]
    parts = [
        scored(source, m, [c for c in item_columns if c not in _items(m)])
        for m in measures.values()
    ]
    rows = (
        pl.concat(parts, how="diagonal_relaxed")
        .with_columns(score=pl.when(pl.col("reason").is_null()).then(pl.col("score")))
        .sort([*SERIES, "session", "line"])
        .collect()
    )
    # A second answer for the same session, measure and rater is a duplicate.
    good = pl.col("reason").is_null()
    keys = [*SERIES, "session"]
    repeated = pl.all_horizontal(pl.col(k) == pl.col(k).shift(1) for k in keys).fill_null(False)
    rows = rows.with_columns(_good=good)
    # Among the good rows alone, sorted by keys then line, a row with its predecessor's keys.
    good_rows = rows.filter(pl.col("_good")).with_columns(_dup=repeated)
    rejected = pl.concat(
        [
            rows.filter(~pl.col("_good")),
            good_rows.filter(pl.col("_dup")).with_columns(reason=pl.lit("duplicate")),
        ],
        how="diagonal_relaxed",
    ).sort("line")
    kept = good_rows.filter(~pl.col("_dup"))

    params = pl.DataFrame(
        {
            "measure": list(measures),
            "sign": [float(m.direction.sign) for m in measures.values()],
            "cutoff": [m.clinical_cutoff for m in measures.values()],
            "reliability": [m.reliability.value for m in measures.values()],
            "points": [
                m.reliable_change.value if m.reliable_change else None for m in measures.values()
            ],
        }
    )
    sessions = (
        kept.lazy()
        .with_columns(
            episode=pl.col("client"),
            rater=pl.lit("client"),
            _series=(
                (pl.col("client") != pl.col("client").shift(1))
                | (pl.col("measure") != pl.col("measure").shift(1))
            )
            .fill_null(True)
            .cum_sum(),
        )
        .with_columns(baseline=pl.col("score").first().over("_series"))
        .with_columns(change=pl.col("score") - pl.col("baseline"))
        .join(params.lazy(), on="measure", how="left", maintain_order="left")
    )
    episodes = sessions.group_by("_series", maintain_order=True).agg(
        pl.col("client", "episode", "rater", "clinician", "measure", "sign", "cutoff").first(),
        pl.col("reliability", "points").first(),
        sessions=pl.len(),
        first_session=pl.col("session").first(),
        last_session=pl.col("session").last(),
        first_score=pl.col("score").first(),
        last_score=pl.col("score").last(),
    )
    # A pre-post pair is two scores at two sessions: one score has no change.
    pair = pl.col("last_session") > pl.col("first_session")
    # Jacobson & Truax (1991): S_diff from the SD of the complete-case pre scores; a published
    # reliable change in points takes its place as S_diff = points / z, a change of exactly
    # `points` counting.
    sd_pre = (
        episodes.filter(pair).group_by("measure").agg(sd_pre=pl.col("first_score").std()).collect()
    )
    jacobson_truax = (2 * (pl.col("sd_pre") * (1 - pl.col("reliability")).sqrt()) ** 2).sqrt()
    published = pl.col("points").is_not_null()
    rule = (
        params.join(sd_pre, on="measure", how="left")
        .with_columns(
            s_diff=pl.when(published).then(pl.col("points") / Z).otherwise(jacobson_truax),
            critical_z=pl.when(published).then(Z * (1 - 1e-9)).otherwise(Z),
            gain_cutoff=pl.when(published).then(pl.col("points")).otherwise(Z * jacobson_truax),
        )
        .select("measure", "s_diff", "critical_z", "gain_cutoff")
        .lazy()
    )

    def reliable(rci: pl.Expr) -> pl.Expr:
        towards_health = rci * pl.col("sign")
        return (
            pl.when(rci.is_null())
            .then(None)
            .when(towards_health > pl.col("critical_z"))
            .then(pl.lit("improved"))
            .when(towards_health < -pl.col("critical_z"))
            .then(pl.lit("deteriorated"))
            .otherwise(pl.lit("unchanged"))
        )

    gain, loss = sudden_changes(pl.col("sign"), pl.col("gain_cutoff"))
    sessions = (
        sessions.join(rule, on="measure", how="left", maintain_order="left")
        .with_columns(rci=pl.col("change") / pl.col("s_diff"), _gain=gain, _loss=loss)
        .with_columns(reliable_change=reliable(pl.col("rci")))
        .collect()
    )
    counts = sessions.group_by("_series").agg(
        sudden_gains=pl.col("_gain").sum().cast(pl.Int64),
        sudden_losses=pl.col("_loss").sum().cast(pl.Int64),
    )
    rci = (pl.col("last_score") - pl.col("first_score")) / pl.col("s_diff")
    clinical_pre = pl.col("first_score") >= pl.col("cutoff")
    clinical_post = pl.col("last_score") >= pl.col("cutoff")
    improved = pl.col("reliable_change") == "improved"
    deteriorated = pl.col("reliable_change") == "deteriorated"
    episodes = (
        episodes.join(rule, on="measure", how="left", maintain_order="left")
        .join(counts.lazy(), on="_series", how="left", maintain_order="left")
        .with_columns(
            change=pl.when(pair).then(pl.col("last_score") - pl.col("first_score")),
            rci=pl.when(pair).then(rci),
        )
        .with_columns(reliable_change=reliable(pl.col("rci")))
        .with_columns(
            category=pl.when(~pair)
            .then(None)
            .when(improved & clinical_pre & ~clinical_post)
            .then(pl.lit("recovered"))
            .when(improved)
            .then(pl.lit("improved"))
            .when(deteriorated & ~clinical_pre & clinical_post)
            .then(pl.lit("harmed"))
            .when(deteriorated)
            .then(pl.lit("deteriorated"))
            .otherwise(pl.lit("unchanged"))
        )
        .select(
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
        )
        .collect()
    )
    sessions = sessions.select(
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
    )
    return sessions, episodes, rejected.select("line", "reason", *names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path, help="A Parquet file as benchmarks/generate.py writes.")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    start = time.perf_counter()
    sessions, episodes, rejected = analyze(args.input)
    args.out.mkdir(parents=True, exist_ok=True)
    sessions.write_parquet(args.out / "sessions.parquet")
    episodes.write_parquet(args.out / "episodes.parquet")
    rejected.write_csv(args.out / "rejected.csv")
    print(
        f"{len(sessions):,} sessions, {len(episodes):,} episodes, {len(rejected):,} rejected "
        f"in {time.perf_counter() - start:.1f} s"
    )


if __name__ == "__main__":
    main()
