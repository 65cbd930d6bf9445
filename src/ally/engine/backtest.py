"""`ally backtest`: fit on earlier episodes, test on later ones, and report how well Ally did.

Episodes are ordered by their first date (or first line); the earliest share trains the
practice model (with `ally fit`'s own function), and the rest are analysed with it and scored
against what happened, and, on simulated data, against the ground truth. See docs/validation.md.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ally.engine.administrations import analysis_features
from ally.engine.analyze import analyze, fit
from ally.engine.errors import AnalysisError
from ally.engine.options import Options
from ally.engine.read import connect, quoted, read_input
from ally.feedback.alliance import (
    OPENFIT_BASELINE,
    RUPTURE_RULES,
    RuptureConfig,
    RuptureRule,
    rupture_accuracy,
    ruptures,
)
from ally.feedback.dropout import calibration_table
from ally.feedback.etr import EtrModel
from ally.feedback.practice import OutcomeModel, PracticeModel
from ally.feedback.results import measure_facts_of
from ally.feedback.signals import (
    HANNAN_OTHERS_FLAGGED,
    HANNAN_SENSITIVITY,
    HANNAN_SESSION,
    MAX_OTHERS_FLAGGED,
    FlagAccuracy,
    first_flags,
    flag_accuracy,
    meets_target,
)
from ally.measures.library import Library, load_library
from ally.measures.schema import Kind
from ally.scoring.rules import score_range

FORMAT = "ally-backtest"
FORMAT_VERSION = 1
MAX_SESSION = 10
"""Flag accuracy is reported by session 1 … MAX_SESSION and by the end of the episode."""
COMPLETED = ("planned", "dropout")
KEYS = ["client", "episode"]
LEVELS = {"red": ("red",), "yellow_or_red": ("yellow", "red")}
"""What counts as a flag: red only, or yellow or red (`signals.FLAGS`)."""
RUPTURE_TARGET = 0.8
AUC_GAP = 0.05
"""VISION targets: rupture precision and recall ≥ 0.8; dropout AUC within 0.05 of the truth's."""


class BacktestError(Exception):
    """An input that stops the backtest; the message says what was wrong and what to do."""


@dataclass(frozen=True)
class BacktestOptions:
    data: Path
    out: Path
    truth: Path | None = None
    """A folder with truth_sessions and truth_episodes (CSV or Parquet), or None for none."""
    split: float = 0.5
    """Share of episodes, earliest first, that trains the models."""
    rupture_rule: str = "strauss"
    measures_dirs: tuple[Path, ...] = ()
    threads: int | None = None
    folds: int = 5
    """Cross-validation folds of the dropout model (as `ally fit` fits it)."""
    signal_false_alarms: float = MAX_OTHERS_FLAGGED
    """The false-alarm bound the signal rules are chosen under (`ally fit`'s option)."""


@dataclass
class Split:
    train: Path
    test: Path
    ordered_by: str
    episodes: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    periods: dict[str, dict[str, str | None]] = field(default_factory=dict)


def truth_folder(data: Path) -> Path | None:
    """DATA's folder when it holds truth_sessions and truth_episodes (as `ally simulate` writes)."""
    folder = data.parent
    if _find(folder, "truth_sessions") and _find(folder, "truth_episodes"):
        return folder
    return None


def _find(folder: Path, name: str) -> Path | None:
    for suffix in (".parquet", ".csv"):
        if (folder / f"{name}{suffix}").exists():
            return folder / f"{name}{suffix}"
    return None


def split_by_time(data: Path, out: Path, share: float, threads: int | None = None) -> Split:
    """Write train.parquet and test.parquet: the earliest `share` of episodes by first date
    (first line without dates), ties by first line, and the rest."""
    if not 0 < share < 1:
        raise BacktestError(f"the split is a share of episodes between 0 and 1, not {share}")
    backend = connect(threads)
    try:
        raw = read_input(backend, data)
    except AnalysisError as exc:
        raise BacktestError(str(exc)) from exc
    missing = [c for c in ("client", "ending") if c not in raw.columns]
    if missing:
        raise BacktestError(
            f"{data}: no {' or '.join(f'`{c}`' for c in missing)} column. The backtest needs "
            "each episode's `ending` (planned, dropout or ongoing) to score signals and dropout; "
            "add it, as `ally simulate` writes it (docs/formats.md)."
        )
    con = backend.con
    con.execute("CREATE TEMP VIEW ally_bt_input AS " + raw.compile())
    episode = "coalesce(CAST(episode AS VARCHAR), CAST(client AS VARCHAR))"
    if "episode" not in raw.columns:
        episode = "CAST(client AS VARCHAR)"
    dated = "date" in raw.columns
    first_date = "min(TRY_CAST(CAST(date AS VARCHAR) AS DATE))" if dated else "NULL::DATE"
    con.execute(
        f"""
        CREATE TEMP TABLE ally_bt_order AS
        SELECT CAST(client AS VARCHAR) AS _c, {episode} AS _e,
               {first_date} AS _first_date, min(line) AS _first_line
        FROM ally_bt_input GROUP BY ALL
        """
    )
    counted = con.execute("SELECT count(*) FROM ally_bt_order").fetchone()
    n = int(counted[0]) if counted else 0
    n_train = min(max(math.ceil(share * n), 1), n - 1) if n > 1 else n
    if n < 2:
        raise BacktestError(f"{data}: {n} episode; a backtest needs at least two.")
    con.execute(
        f"""
        CREATE TEMP TABLE ally_bt_rank AS
        SELECT _c, _e, _first_date,
               row_number() OVER (ORDER BY _first_date NULLS LAST, _first_line) <= {n_train}
                   AS _train
        FROM ally_bt_order
        """
    )
    out.mkdir(parents=True, exist_ok=True)
    split = Split(out / "train.parquet", out / "test.parquet", "first date" if dated else "line")
    for name, path, flag in (("train", split.train, "true"), ("test", split.test, "false")):
        con.execute(
            f"""
            COPY (
              SELECT i.* EXCLUDE (line) FROM ally_bt_input i
              JOIN ally_bt_rank r ON CAST(i.client AS VARCHAR) = r._c AND {episode} = r._e
              WHERE r._train = {flag} ORDER BY i.line
            ) TO {quoted(path)} (FORMAT parquet)
            """
        )
        row = con.execute(
            f"SELECT count(*), min(_first_date), max(_first_date) FROM ally_bt_rank "
            f"WHERE _train = {flag}"
        ).fetchone()
        assert row is not None
        split.episodes[name] = int(row[0])
        split.periods[name] = {
            "first_start": str(row[1]) if row[1] is not None else None,
            "last_start": str(row[2]) if row[2] is not None else None,
        }
        rows = con.execute(
            "SELECT count(*) FROM read_parquet($path)", {"path": str(path)}
        ).fetchone()
        split.rows[name] = int(rows[0]) if rows else 0
    return split


# --- Fitting, as `ally fit` does ------------------------------------------------------------


def fit_models(options: BacktestOptions, train: Path, models: Path) -> PracticeModel:
    """The practice model of the training episodes, fitted by `ally fit`'s function and saved
    to models/practice.json; too little data for a part is noted in the model, not raised."""
    config = RUPTURE_RULES[options.rupture_rule]
    try:
        model, _ = fit(
            Options(
                input=train,
                out=models,
                rupture_config=config,
                measures_dirs=options.measures_dirs,
                threads=options.threads,
                progress=False,
                dropout_folds=options.folds,
                signal_false_alarms=options.signal_false_alarms,
            ),
            fitted_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
    except AnalysisError as exc:
        raise BacktestError(str(exc)) from exc
    models.mkdir(parents=True, exist_ok=True)
    (models / "practice.json").write_text(model.to_json(), encoding="utf-8")
    return model


def _rule(outcome: OutcomeModel) -> dict[str, Any]:
    """The signal rule the model applies to a measure, and how it was chosen on the training
    episodes (None when it was not tuned)."""
    t = outcome.thresholds
    return {
        "course": "fitted" if isinstance(outcome.expected, EtrModel) else "rational",
        "yellow_scale": t.yellow_scale,
        "red_scale": t.red_scale,
        "functional_first": t.functional_first,
        "tuning": asdict(outcome.tuning) if outcome.tuning is not None else None,
    }


def _said(model: PracticeModel, measure_id: str, what: str) -> str:
    """The model's notes on one part of a measure (e.g. its expected course)."""
    m = model.measures[measure_id]
    return "; ".join(n.removeprefix("client: ") for n in m.notes if what in n)


# --- Scoring -------------------------------------------------------------------------------


def _read(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    for key in KEYS:
        if key in frame.columns:
            frame[key] = frame[key].astype("string")
    return frame


def _num(value: Any) -> float | None:
    """A float for JSON: None for NaN."""
    if value is None:
        return None
    x = float(value)
    return None if math.isnan(x) else x


def accuracy_rows(rows: Sequence[FlagAccuracy]) -> list[dict[str, Any]]:
    """flag_accuracy's rows as plain data; `by_session` "end" for the whole episode."""
    return [
        {
            "by_session": r.by_session if r.by_session is not None else "end",
            "true_positives": r.true_positives,
            "false_positives": r.false_positives,
            "false_negatives": r.false_negatives,
            "true_negatives": r.true_negatives,
            "sensitivity": _num(r.sensitivity),
            "specificity": _num(r.specificity),
            "positive_predictive_value": _num(r.positive_predictive_value),
            "others_flagged": _num(r.others_flagged),
        }
        for r in rows
    ]


def _episode_key(frame: pd.DataFrame) -> pd.Series:
    return frame["client"].astype(str) + "\x1f" + frame["episode"].astype(str)


def signal_figures(
    sessions: pd.DataFrame,
    episodes: pd.DataFrame,
    measure: str,
    truth: pd.DataFrame | None,
    max_session: int = MAX_SESSION,
) -> dict[str, Any] | None:
    """Flag accuracy of one outcome measure's signals on completed episodes with 2+ sessions."""
    e = episodes[
        (episodes["measure"] == measure)
        & (episodes["rater"] == "client")
        & episodes["ending"].isin(COMPLETED)
        & (episodes["sessions"] >= 2)
    ].copy()
    s = sessions[(sessions["measure"] == measure) & (sessions["rater"] == "client")]
    if e.empty or "signal" not in s.columns or s["signal"].isna().all():
        return None
    e["_key"] = _episode_key(e)
    s = s.assign(_key=_episode_key(s))
    shown = s["signal"].dropna()
    result: dict[str, Any] = {
        "episodes": len(e),
        "sessions_flagged": {
            level: _num(shown.isin(colours).mean()) if len(shown) else None
            for level, colours in LEVELS.items()
        },
    }
    s = s[s["_key"].isin(set(e["_key"]))]
    outcomes: dict[str, pd.Series] = {
        "deterioration": e["reliable_change"] == "deteriorated",
    }
    categorised = e["category"].notna()
    outcomes["non_recovery"] = (e["category"] != "recovered")[categorised]
    if truth is not None:
        t = truth.assign(_key=_episode_key(truth)).set_index("_key")
        known = e["_key"].isin(t.index)
        keys = e.loc[known, "_key"]
        outcomes["true_deterioration"] = pd.Series(
            t.loc[keys, "true_reliable_deterioration"].astype(bool).to_numpy(), index=keys.index
        )
        outcomes["true_non_recovery"] = pd.Series(
            ~t.loc[keys, "true_recovery"].astype(bool).to_numpy(), index=keys.index
        )
    result["poor_outcomes"] = {
        name: {"episodes": len(o), "poor": int(o.sum())} for name, o in outcomes.items()
    }
    accuracy: dict[str, Any] = {}
    targets: dict[str, Any] = {}
    for level, colours in LEVELS.items():
        first = first_flags(
            s["_key"].tolist(),
            s["session"].astype(int).tolist(),
            s["signal"].isin(colours).tolist(),
        )
        accuracy[level] = {}
        targets[level] = {}
        for name, poor in outcomes.items():
            keys = e.loc[poor.index, "_key"]
            flags: list[int | float | None] = [first.get(k) for k in keys]
            rows = flag_accuracy(flags, poor.tolist(), max_session)
            accuracy[level][name] = accuracy_rows(rows)
            targets[level][name] = meets_target(rows) if poor.any() else None
    result["accuracy"] = accuracy
    result["meets_target"] = targets
    return result


def _scores(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """AUC, Brier score, mean predicted and the decile calibration table of a risk score."""
    from sklearn.metrics import roc_auc_score

    both = len(np.unique(y)) == 2
    table = calibration_table(y, p) if len(y) >= 10 else pd.DataFrame()
    return {
        "auc": float(roc_auc_score(y, p)) if both else None,
        "brier": float(np.mean((p - y) ** 2)),
        "mean_predicted": float(np.mean(p)),
        "observed": float(np.mean(y)),
        "calibration": [
            {"n": int(n), "predicted": float(pr), "observed": float(ob)}
            for n, pr, ob in zip(
                table.get("n", []),
                table.get("predicted", []),
                table.get("observed", []),
                strict=True,
            )
        ],
    }


def remaining_path_risk(frame: pd.DataFrame) -> pd.Series:
    """1 − Π over this and the episode's later realised sessions of (1 − hazard)."""
    f = frame.sort_values([*KEYS, "session"])
    log_stay = np.log1p(-f["dropout_hazard"].clip(upper=1 - 1e-12))
    later = log_stay[::-1].groupby([f["client"][::-1], f["episode"][::-1]]).cumsum()[::-1]
    risk: pd.Series = (1 - np.exp(later)).reindex(frame.index)
    return risk


def _measures_of(analysis: Path) -> set[str]:
    return set(_read(analysis / "episodes.parquet")["measure"].dropna().astype(str))


def dropout_figures(
    analysis: Path,
    model: PracticeModel,
    truth_sessions: pd.DataFrame | None,
    truth_episodes: pd.DataFrame | None,
) -> dict[str, Any]:
    """AUC, Brier and calibration per session of completed test episodes, for eventual dropout."""
    sessions = _read(analysis / "sessions.parquet")
    episodes = _read(analysis / "episodes.parquet")
    ended = episodes[episodes["ending"].isin(COMPLETED)].groupby(KEYS)["ending"].first()
    label = (ended == "dropout").astype(int).rename("dropout").reset_index()
    per = sessions.groupby([*KEYS, "session"], as_index=False).agg(
        dropout_risk=("dropout_risk", "max"), risk_flags=("risk_flags", "first")
    )
    rows = per.merge(label, on=KEYS)
    result: dict[str, Any] = {
        "sessions": len(rows),
        "episodes": int(label.shape[0]),
        "dropouts": int(label["dropout"].sum()),
        "dropout_rate": _num(label["dropout"].mean()) if len(label) else None,
    }
    if rows.empty:
        result["note"] = "no completed test episodes"
        return result
    y = rows["dropout"].to_numpy()
    scores: dict[str, Any] = {}
    dropout = model.dropout
    if dropout is not None:
        features = analysis_features(sessions, measure_facts_of(model.measures.values()))
        features["baseline"] = dropout.baseline_proba(features[list(dropout.features)])
        for key in KEYS:
            rows[key] = rows[key].astype(str)
        rows = rows.merge(features[[*KEYS, "session", "baseline"]], on=[*KEYS, "session"])
        y = rows["dropout"].to_numpy()
        result["model"] = {"chosen": dropout.chosen_, "features": list(dropout.features)}
        scores["model"] = _scores(y, rows["dropout_risk"].to_numpy(float))
        scores["logistic_baseline"] = _scores(y, rows["baseline"].to_numpy(float))
    else:
        # Without a model: how many transparent indicators are met, as a score.
        met = rows["risk_flags"].fillna("").map(lambda t: len([f for f in t.split(";") if f]))
        scores["indicators_met"] = _scores(y, met.to_numpy(float))
        scores["indicators_met"].pop("brier")
        scores["indicators_met"].pop("calibration")
        scores["indicators_met"].pop("mean_predicted")
    if truth_sessions is not None:
        t = truth_sessions[[*KEYS, "session", "dropout_hazard"]].dropna()
        t = t.assign(true_remaining_path=remaining_path_risk(t))
        joined = rows.merge(t, on=[*KEYS, "session"])
        result["truth_sessions"] = len(joined)
        yt = joined["dropout"].to_numpy()
        scores["true_hazard"] = _scores(yt, joined["dropout_hazard"].to_numpy(float))
        scores["true_remaining_path"] = _scores(yt, joined["true_remaining_path"].to_numpy(float))
    result["scores"] = scores
    early = rows[rows["session"] == 2]
    if dropout is not None and len(early):
        ye = early["dropout"].to_numpy()
        found: dict[str, Any] = {
            "model": _scores(ye, early["dropout_risk"].to_numpy(float)),
            "logistic_baseline": _scores(ye, early["baseline"].to_numpy(float)),
        }
        if truth_episodes is not None and "dropout_risk_s1" in truth_episodes.columns:
            te = early.merge(truth_episodes[[*KEYS, "dropout_risk_s1"]].dropna(), on=KEYS)
            found["true_risk_s1"] = _scores(
                te["dropout"].to_numpy(), te["dropout_risk_s1"].to_numpy(float)
            )
        for figures in found.values():
            figures.pop("calibration")
        result["at_session_2"] = {"episodes": len(early), "scores": found}
    return result


def openfit_scaled(low: float, high: float) -> RuptureConfig:
    """OpenFIT's SRS rules (below 36 of 40, or a 1-point drop) rescaled to a measure's range."""
    width = high - low
    return RuptureConfig(
        rules=(
            RuptureRule.at_or_below(low + 0.9 * width, inclusive=False),
            RuptureRule.points_drop(width / 40),
        ),
        repair_tolerance=OPENFIT_BASELINE.repair_tolerance,
        repair_within=OPENFIT_BASELINE.repair_within,
    )


def _matrix(frame: pd.DataFrame, index: dict[Hashable, int], width: int, column: str) -> Any:
    out = np.full((len(index), width), np.nan)
    rows = frame["_key"].map(index).to_numpy()
    cols = frame["session"].astype(int).to_numpy() - 1
    out[rows, cols] = frame[column].astype(float).to_numpy()
    return out


def rupture_figures(
    analysis: Path,
    library: Library,
    truth_sessions: pd.DataFrame,
    rule: str,
    tolerance: int = 1,
) -> dict[str, Any]:
    """Precision and recall of detected rupture onsets against the true ones, per measure."""
    sessions = _read(analysis / "sessions.parquet")
    episodes = _read(analysis / "episodes.parquet")
    truth = truth_sessions.assign(_key=_episode_key(truth_sessions))
    truth = truth[[*KEYS, "_key", "session", "rupture"]]
    found: dict[str, Any] = {}
    for measure in sorted(sessions["measure"].dropna().unique()):
        m = library.measures.get(str(measure))
        if m is None or m.kind is not Kind.ALLIANCE:
            continue
        s = sessions[(sessions["measure"] == measure) & (sessions["rater"] == "client")]
        s = s.assign(_key=_episode_key(s))
        if s.empty:
            continue
        keys = sorted(s["_key"].unique())
        index: dict[Hashable, int] = {k: i for i, k in enumerate(keys)}
        t = truth[truth["_key"].isin(index)]
        width = int(max(s["session"].max(), t["session"].max() if len(t) else 1))
        true = _matrix(t, index, width, "rupture") == 1
        detected = _matrix(s, index, width, "rupture") == 1
        scores = _matrix(s, index, width, "score")
        e = episodes[(episodes["measure"] == measure) & (episodes["rater"] == "client")]
        done = set(_episode_key(e[e["ending"].isin(COMPLETED)]))
        ended = np.array([k in done for k in keys])
        low, high = score_range(m)
        baseline = ruptures(scores, config=openfit_scaled(low, high), ended=ended).rupture
        detectors = {}
        for name, flags in ((rule, detected), ("openfit_baseline", baseline)):
            acc = rupture_accuracy(flags, true, tolerance=tolerance)
            detectors[name] = {
                "precision": _num(acc.precision),
                "recall": _num(acc.recall),
                "matched": acc.matched,
                "detected": acc.detected,
                "true": acc.true,
            }
        found[str(measure)] = {
            "episodes": len(keys),
            "rated_sessions": int(np.count_nonzero(~np.isnan(scores))),
            "tolerance": tolerance,
            "detectors": detectors,
        }
    return found


# --- The whole run ---------------------------------------------------------------------------


def _truth(folder: Path | None) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    if folder is None:
        return None, None
    paths = [_find(folder, "truth_sessions"), _find(folder, "truth_episodes")]
    if paths[0] is None or paths[1] is None:
        raise BacktestError(
            f"{folder}: no truth_sessions and truth_episodes (CSV or Parquet); give the folder "
            "`ally simulate --out` wrote, or leave out --truth."
        )
    return _read(paths[0]), _read(paths[1])


def _analyze(options: BacktestOptions, data: Path, out: Path, model: PracticeModel) -> None:
    """The test episodes under the training episodes' model: nothing is estimated from them."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "practice.json"
    path.write_text(model.to_json(), encoding="utf-8")
    try:
        analyze(
            Options(
                input=data,
                out=out,
                format="parquet",
                model=path,
                measures_dirs=options.measures_dirs,
                threads=options.threads,
                progress=False,
            )
        )
    except AnalysisError as exc:
        raise BacktestError(str(exc)) from exc


def backtest(options: BacktestOptions) -> dict[str, Any]:
    """Split, fit, analyse the test episodes and score them; write backtest.json and .md."""
    library = load_library(options.measures_dirs)
    truth_sessions, truth_episodes = _truth(options.truth)
    out = options.out
    split = split_by_time(options.data, out, options.split, options.threads)
    model = fit_models(options, split.train, out / "models")
    _analyze(options, split.test, out / "test_analysis", model)
    _analyze(options, split.test, out / "test_rational", model.with_rational_courses())
    fitted: dict[str, Any] = {
        "etr": {
            m.id: {
                "fitted": isinstance(m.outcome.expected, EtrModel),
                "said": _said(model, m.id, "expected course"),
                "rule": _rule(m.outcome),
            }
            for m in model.measures.values()
            if m.outcome is not None and m.id in _measures_of(out / "test_analysis")
        },
        "dropout": {
            "fitted": model.dropout is not None,
            "said": "; ".join(n for n in model.training.notes if n.startswith("dropout")),
        },
    }
    dropout_model = model.dropout

    notes: list[str] = []
    for measure, f in fitted["etr"].items():
        if f["rule"]["tuning"] is None and not f["fitted"]:
            notes.append(f"{measure}: no expected-response model ({f['said']}); rational signals.")
    if dropout_model is None:
        notes.append(f"No dropout model ({fitted['dropout']['said']}); indicators only.")

    test = out / "test_analysis"
    sessions = _read(test / "sessions.parquet")
    episodes = _read(test / "episodes.parquet")
    rational = out / "test_rational"
    r_sessions = _read(rational / "sessions.parquet")
    r_episodes = _read(rational / "episodes.parquet")
    signals: dict[str, Any] = {}
    outcome_measures = [
        m
        for m in sorted(episodes["measure"].dropna().unique())
        if (d := library.measures.get(str(m))) is not None and d.kind is Kind.OUTCOME
    ]
    for measure in outcome_measures:
        entry: dict[str, Any] = {
            "model": signal_figures(sessions, episodes, measure, truth_episodes),
            "rational": signal_figures(r_sessions, r_episodes, measure, truth_episodes),
        }
        entry = {k: v for k, v in entry.items() if v is not None}
        if entry:
            signals[str(measure)] = entry

    report: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "ally_version": _version(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "data": {
            "input": str(options.data),
            "truth": str(options.truth) if options.truth else None,
            "split": options.split,
            "ordered_by": split.ordered_by,
            "episodes": split.episodes,
            "rows": split.rows,
            "periods": split.periods,
            "rupture_rule": options.rupture_rule,
        },
        "models": {
            "etr": {
                m: {"fitted": f["fitted"], "said": f["said"], "rule": f["rule"]}
                for m, f in fitted["etr"].items()
            },
            "dropout": {"fitted": fitted["dropout"]["fitted"], "said": fitted["dropout"]["said"]},
        },
        "signals": signals,
        "dropout": dropout_figures(test, model, truth_sessions, truth_episodes),
        "notes": notes,
    }
    if truth_sessions is not None:
        report["ruptures"] = rupture_figures(test, library, truth_sessions, options.rupture_rule)
    report["goals"] = goals(report)
    (out / "backtest.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    (out / "backtest.md").write_text(markdown(report), encoding="utf-8")
    return report


def _version() -> str:
    try:
        return metadata.version("ally")
    except metadata.PackageNotFoundError:
        return "unknown"


# --- Goals and the Markdown report -----------------------------------------------------------


def _at(rows: list[dict[str, Any]], session: int | str) -> dict[str, Any] | None:
    return next((r for r in rows if r["by_session"] == session), None)


def goals(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each VISION target with the measured figure and whether it is met (None: not measurable)."""
    found: list[dict[str, Any]] = []
    for measure, entry in report["signals"].items():
        for method in METHODS:
            figures = entry.get(method)
            if not figures:
                continue
            for outcome in ("deterioration", "true_deterioration"):
                rows = figures["accuracy"]["yellow_or_red"].get(outcome)
                if rows is None:
                    continue
                row, end = _at(rows, HANNAN_SESSION), _at(rows, "end")
                assert row is not None
                assert end is not None
                found.append(
                    {
                        "goal": f"signals ({measure}, {method}, yellow or red) vs {outcome}",
                        "target": f"sensitivity by session {HANNAN_SESSION} >= "
                        f"{HANNAN_SENSITIVITY:.0%}, others flagged <= {HANNAN_OTHERS_FLAGGED:.0%}",
                        "measured": {
                            "sensitivity": row["sensitivity"],
                            "others_flagged": row["others_flagged"],
                            "sensitivity_by_end": end["sensitivity"],
                            "poor": row["true_positives"] + row["false_negatives"],
                        },
                        "met": figures["meets_target"]["yellow_or_red"][outcome],
                    }
                )
    for measure, entry in report.get("ruptures", {}).items():
        rule = report["data"]["rupture_rule"]
        d = entry["detectors"][rule]
        met = None
        if d["precision"] is not None and d["recall"] is not None:
            met = d["precision"] >= RUPTURE_TARGET and d["recall"] >= RUPTURE_TARGET
        found.append(
            {
                "goal": f"ruptures ({measure}, {rule}) within {entry['tolerance']} session",
                "target": f"precision and recall >= {RUPTURE_TARGET}",
                "measured": {"precision": d["precision"], "recall": d["recall"]},
                "met": met,
            }
        )
    scores = report["dropout"].get("scores", {})
    if "model" in scores:
        model, base = scores["model"], scores["logistic_baseline"]
        truth = scores.get("true_hazard")
        gap = None
        if truth and truth["auc"] is not None and model["auc"] is not None:
            gap = truth["auc"] - model["auc"]
        met = None if gap is None else gap <= AUC_GAP and model["brier"] <= base["brier"]
        found.append(
            {
                "goal": "dropout risk per session",
                "target": f"AUC within {AUC_GAP} of the true hazard's; Brier no worse than the "
                "logistic baseline's",
                "measured": {
                    "auc": model["auc"],
                    "true_hazard_auc": truth["auc"] if truth else None,
                    "auc_gap": gap,
                    "brier": model["brier"],
                    "baseline_brier": base["brier"],
                },
                "met": met,
            }
        )
    return found


def _f(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _pct(value: Any) -> str:
    return "–" if value is None else f"{value:.0%}"


OUTCOME_NAMES = {
    "deterioration": "reliable deterioration (observed)",
    "non_recovery": "not recovered (observed)",
    "true_deterioration": "true reliable deterioration",
    "true_non_recovery": "truly not recovered",
}


def _signal_table(figures: dict[str, Any], level: str) -> list[str]:
    cut: list[int | str] = [1, 2, 3, 4, 6, 8, 10, "end"]
    lines = [
        "| outcome | poor / episodes | figure | " + " | ".join(f"by {c}" for c in cut) + " |",
        "|---|---|---|" + "---|" * len(cut),
    ]
    for outcome, rows in figures["accuracy"][level].items():
        counts = figures["poor_outcomes"][outcome]
        for label, key in (
            ("sensitivity", "sensitivity"),
            ("others flagged", "others_flagged"),
            ("PPV", "positive_predictive_value"),
        ):
            first = (
                f"{OUTCOME_NAMES[outcome]} | {counts['poor']} / {counts['episodes']}"
                if label == "sensitivity"
                else " | "
            )
            values = [_pct((_at(rows, c) or {}).get(key)) for c in cut]
            lines.append(f"| {first} | {label} | " + " | ".join(values) + " |")
    return lines


def markdown(report: dict[str, Any]) -> str:
    """The report in Markdown: data and split, goals, then each section's figures."""
    d = report["data"]
    truth = f"`{d['truth']}`" if d["truth"] else "none"
    out = [
        "# Ally backtest",
        "",
        f"Data: `{d['input']}`; ground truth: {truth}.",
        f"Episodes ordered by {d['ordered_by']}; the earliest {d['split']:.0%} train the models, "
        "the rest are tested.",
        "",
        "| set | episodes | rows | first start | last start |",
        "|---|---|---|---|---|",
    ]
    for name in ("train", "test"):
        p = d["periods"][name]
        out.append(
            f"| {name} | {d['episodes'][name]} | {d['rows'][name]} | "
            f"{p['first_start'] or '–'} | {p['last_start'] or '–'} |"
        )
    out += [
        "",
        "Training episodes' later sessions may fall after the first test episodes began; a model "
        "refitted in real time would have seen fewer of them.",
        "",
        "## Goals",
        "",
        "| goal | target | measured | met |",
        "|---|---|---|---|",
    ]
    for g in report["goals"]:
        measured = ", ".join(f"{k} {_f(v)}" for k, v in g["measured"].items())
        met = {True: "yes", False: "**no**", None: "–"}[g["met"]]
        out.append(f"| {g['goal']} | {g['target']} | {measured} | {met} |")
    out += ["", "## Models fitted on the training episodes", ""]
    for measure, f in report["models"]["etr"].items():
        out.append(f"- ETR {measure}: {'fitted' if f['fitted'] else 'not fitted'}.")
        out += _rule_md(measure, f["rule"])
    dropout = report["models"]["dropout"]
    out.append(f"- Dropout model: {'fitted' if dropout['fitted'] else 'not fitted'}.")
    out += [f"- Note: {n}" for n in report["notes"]]
    out += [
        "",
        "## Signals",
        "",
        "Completed test episodes (ending planned or dropout) with at least two sessions of the "
        "measure. An episode is flagged by session k when its first flag came at session k or "
        "earlier; `by end` counts the whole episode. Non-recovery is among episodes with a "
        "category. The practice model's rule: the expected course, precedence and yellow "
        "threshold chosen on the training episodes (`ally fit`); the rational rule: the "
        "rational course with the default thresholds, untuned, for comparison "
        "(docs/feedback.md).",
    ]
    for measure, entry in report["signals"].items():
        for method in METHODS:
            figures = entry.get(method)
            if not figures:
                continue
            flagged = figures["sessions_flagged"]
            out += [
                "",
                f"### {measure}, {METHODS[method]}",
                "",
                f"{figures['episodes']} episodes. Share of all sessions of the measure flagged: "
                f"red {_pct(flagged['red'])}, yellow or red {_pct(flagged['yellow_or_red'])}.",
            ]
            for level in LEVELS:
                out += ["", f"Flag: {level.replace('_', ' ')}.", ""]
                out += _signal_table(figures, level)
    out += _dropout_md(report["dropout"])
    if "ruptures" in report:
        out += [
            "",
            "## Ruptures",
            "",
            "Detected rupture onsets on client-rated alliance rows against the true onsets, a "
            "match within one session (`rupture_accuracy`). The OpenFIT baseline is its SRS rules "
            "(below 36 of 40, or a drop of 1 point) rescaled to the measure's range.",
            "",
            "| measure | detector | precision | recall | matched | detected | true |",
            "|---|---|---|---|---|---|---|",
        ]
        for measure, entry in report["ruptures"].items():
            for name, r in entry["detectors"].items():
                out.append(
                    f"| {measure} | {name} | {_f(r['precision'])} | {_f(r['recall'])} | "
                    f"{r['matched']} | {r['detected']} | {r['true']} |"
                )
    return "\n".join(out) + "\n"


METHODS = {
    "model": "the practice model's signals (the tuned rule)",
    "rational": "the rational signals (untuned, for comparison)",
}


def _rule_md(measure: str, rule: dict[str, Any]) -> list[str]:
    """The signal rule of a measure and the training figures it was chosen by."""
    order = "white first" if rule["functional_first"] else "the band before white"
    out = [
        f"- Signals {measure}: {rule['course']} course, {order}, yellow beyond "
        f"{rule['yellow_scale']:g} and red beyond {rule['red_scale']:g} of the band."
    ]
    t = rule["tuning"]
    if t is None:
        return [*out, "  Not tuned (too few training deteriorators): the default rule."]
    out.append(
        f"  Chosen on the training episodes ({t['method']}): the most sensitive by session "
        f"{t['by_session']} flagging at most {t['max_others_flagged']:.0%} of the others."
    )
    out += ["", "  | course | order | yellow | sensitivity | others flagged | chosen |"]
    out.append("  |---|---|---|---|---|---|")
    for c in t["candidates"]:
        chosen = "yes" if c == t["chosen"] else ""
        out.append(
            f"  | {c['course']} | {'white first' if c['functional_first'] else 'band first'} | "
            f"{c['yellow_scale']:g} | {c['sensitivity']:.3f} ({c['deteriorators']}) | "
            f"{c['others_flagged']:.3f} ({c['episodes'] - c['deteriorators']}) | {chosen} |"
        )
    return [*out, ""]


SCORE_NAMES = {
    "model": "the fitted model (`dropout_risk`)",
    "logistic_baseline": "logistic baseline",
    "indicators_met": "number of risk indicators met",
    "true_hazard": "true hazard at the session (reference for the goal)",
    "true_remaining_path": "true risk over the realised later path (peeks: upper reference)",
    "true_risk_s1": "true expected-path risk at session 1",
}


def _dropout_md(d: dict[str, Any]) -> list[str]:
    out = [
        "",
        "## Dropout",
        "",
        f"Sessions of completed test episodes: {d['sessions']} sessions of {d['episodes']} "
        f"episodes, {d['dropouts']} dropouts ({_pct(d['dropout_rate'])}). Label: the episode "
        "ended in dropout.",
    ]
    if "note" in d:
        return [*out, "", d["note"]]
    out += ["", "| score | AUC | Brier | mean predicted | observed |", "|---|---|---|---|---|"]
    for name, s in d["scores"].items():
        out.append(
            f"| {SCORE_NAMES[name]} | {_f(s['auc'])} | {_f(s.get('brier'), 4)} | "
            f"{_f(s.get('mean_predicted'))} | {_f(s['observed'])} |"
        )
    if "true_hazard" in d["scores"]:
        out += [
            "",
            "The true hazard is the simulator's probability of dropping out after that session, "
            "used as a score for eventual dropout; it is 0 at a session after which a planned "
            "ending was due, so it knows the planned length a model cannot. The remaining-path "
            "risk, 1 − Π(1 − hazard) over this and the episode's realised later sessions, uses "
            "the future and is not attainable. The goal compares with the true hazard.",
        ]
    for name in ("model", "logistic_baseline"):
        table = d["scores"].get(name, {}).get("calibration")
        if table:
            out += ["", f"Calibration, {SCORE_NAMES[name]} (deciles of predicted risk):", ""]
            out += ["| decile | n | predicted | observed |", "|---|---|---|---|"]
            out += [
                f"| {i + 1} | {r['n']} | {r['predicted']:.3f} | {r['observed']:.3f} |"
                for i, r in enumerate(table)
            ]
    early = d.get("at_session_2")
    if early:
        out += [
            "",
            f"At session 2 (one row per episode, {early['episodes']} episodes):",
            "",
            "| score | AUC | Brier |",
            "|---|---|---|",
        ]
        for name, s in early["scores"].items():
            out.append(f"| {SCORE_NAMES[name]} | {_f(s['auc'])} | {_f(s['brier'], 4)} |")
    return out
