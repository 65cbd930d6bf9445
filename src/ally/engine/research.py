"""`ally research`: read a table or an analysis for the research statistics in `ally.research`.

Reading is here; the statistics are in the core. An input file `ally analyze` reads is scored
by `ally analyze` itself (into a temporary folder, without feedback), so its scores are the
ones every other command gives; an `ally analyze` output folder is read as it is.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ally.engine.analyze import analyze
from ally.engine.errors import AnalysisError
from ally.engine.options import Options
from ally.research.alliance_outcome import BOOTSTRAP, AllianceOutcome, alliance_outcome
from ally.research.mixed import MixedFit, MixedModelError, fit_mixed

SCORED = ["client", "episode", "clinician", "session", "measure", "rater", "score"]
IDS = {"client": "string", "episode": "string", "clinician": "string", "group": "string"}


def read_table(path: Path, delimiter: str = ",") -> pd.DataFrame:
    """A CSV or Parquet file as a table (Parquet by its suffix)."""
    if not path.is_file():
        raise AnalysisError(f"{path}: no such file")
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, sep=delimiter)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise AnalysisError(f"{path}: could not be read as a table ({exc})") from exc


def _number_column(table: pd.DataFrame, name: str, path: Path) -> pd.Series:
    if name not in table.columns:
        raise AnalysisError(
            f"{path}: no column {name!r}; its columns are {', '.join(map(str, table.columns))}"
        )
    values = pd.to_numeric(table[name], errors="coerce")
    bad = values.isna() & table[name].notna()
    if bad.any():
        line = int(bad.to_numpy().nonzero()[0][0]) + 2  # the header is line 1
        raise AnalysisError(
            f"{path}, line {line}: column {name!r} holds {table[name].iloc[line - 2]!r}, not a "
            "number; give numeric columns as outcome, predictors and random slopes"
        )
    return values


def mixed(
    path: Path,
    outcome: str,
    predictors: list[str],
    group: str,
    random_slopes: list[str],
    reml: bool = True,
    delimiter: str = ",",
) -> MixedFit:
    """Fit `outcome ~ predictors + (1 + random_slopes | group)` to the table in `path`."""
    table = read_table(path, delimiter)
    if group not in table.columns:
        raise AnalysisError(
            f"{path}: no column {group!r}; its columns are {', '.join(map(str, table.columns))}"
        )
    y = _number_column(table, outcome, path)
    columns = {name: _number_column(table, name, path) for name in predictors}
    try:
        return fit_mixed(
            outcome,
            y.to_numpy(dtype="float64"),
            {n: c.to_numpy(dtype="float64") for n, c in columns.items()},
            group,
            table[group].to_numpy(dtype=object),
            random_slopes,
            reml=reml,
        )
    except MixedModelError as exc:
        raise AnalysisError(f"{path}: {exc}") from exc


def _analysis_file(folder: Path) -> Path:
    for name in ("sessions.parquet", "sessions.csv"):
        if (folder / name).is_file():
            return folder / name
    raise AnalysisError(
        f"{folder}: no sessions.csv or sessions.parquet. Give an input file, or the folder "
        "`ally analyze --out` wrote."
    )


def scored_sessions(
    data: Path, measures_dirs: tuple[Path, ...] = (), delimiter: str = ","
) -> pd.DataFrame:
    """Client, episode, clinician, session, measure, rater and score of every administration."""
    if data.is_dir():
        path = _analysis_file(data)
        table = (
            pd.read_parquet(path)
            if path.suffix == ".parquet"
            else pd.read_csv(path, dtype=IDS, keep_default_na=False, na_values=[""])
        )
    else:
        if not data.is_file():
            raise AnalysisError(f"{data}: no such file or folder")
        with tempfile.TemporaryDirectory(prefix="ally-research-") as out:
            analyze(
                Options(
                    input=data,
                    out=Path(out),
                    format="parquet",
                    delimiter=delimiter,
                    measures_dirs=measures_dirs,
                    feedback=False,
                    progress=False,
                )
            )
            path = Path(out) / "sessions.parquet"
            table = pd.read_parquet(path)
    missing = [c for c in SCORED if c not in table.columns]
    if "clinician" in missing:
        table["clinician"] = pd.NA
        missing.remove("clinician")
    if missing:
        raise AnalysisError(f"{path}: no column(s) {', '.join(missing)}")
    table = table[SCORED].copy()
    for name in ("client", "episode", "clinician", "measure", "rater"):
        table[name] = table[name].astype(object).where(table[name].notna(), None)
    table["session"] = pd.to_numeric(table["session"], errors="coerce")
    table["score"] = pd.to_numeric(table["score"], errors="coerce")
    return table


@dataclass(frozen=True)
class Choice:
    """A measure and who rated it."""

    measure: str
    rater: str = "client"


def _rows(sessions: pd.DataFrame, choice: Choice, what: str) -> pd.DataFrame:
    rows = sessions[(sessions["measure"] == choice.measure) & (sessions["rater"] == choice.rater)]
    if rows.empty:
        found = sorted(
            {f"{m} ({r})" for m, r in zip(sessions["measure"], sessions["rater"], strict=True)}
        )
        raise AnalysisError(
            f"no {what} scores of {choice.measure} rated by the {choice.rater}; the data hold "
            f"{', '.join(found) or 'no scores'}"
        )
    return rows[["client", "episode", "clinician", "session", "score"]]


def alliance_outcome_of(
    data: Path,
    alliance: Choice,
    outcome: Choice,
    clinician_effects: bool = False,
    control_current_outcome: bool = False,
    bootstrap: int = BOOTSTRAP,
    seed: int = 1,
    measures_dirs: tuple[Path, ...] = (),
    delimiter: str = ",",
) -> AllianceOutcome:
    """The alliance–outcome analysis of an input file or an `ally analyze` folder."""
    sessions = scored_sessions(data, measures_dirs, delimiter)
    try:
        return alliance_outcome(
            _rows(sessions, alliance, "alliance"),
            _rows(sessions, outcome, "outcome"),
            clinician_effects=clinician_effects,
            control_current_outcome=control_current_outcome,
            bootstrap=bootstrap,
            seed=seed,
        )
    except MixedModelError as exc:
        raise AnalysisError(f"{data}: {exc}") from exc
