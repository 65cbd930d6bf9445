"""Dropout risk: the probability that an episode ends in dropout, given its sessions so far.

A logistic regression (the baseline, SPECS 5) and a calibrated gradient-boosted model are fitted
on a practice's completed episodes, one row per session; the one with the lower cross-validated
Brier score on held-out episodes is used. With too few episodes, `risk_indicators` stand in.
"""

from __future__ import annotations

import base64
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from ally.feedback.dropout_features import FEATURE_SET_VERSION, FEATURES

FORMAT = "ally-dropout-model"
FORMAT_VERSION = 1
MIN_EPISODES = 100
MIN_DROPOUTS = 20
# The only types the stored boosted model may contain besides numpy/sklearn basics (skops).
TRUSTED_TYPES = [
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
]

Array = npt.NDArray[np.float64]
Calibration = Literal["auto", "isotonic", "sigmoid"]


class DropoutModelError(Exception):
    """A dropout model file that cannot be used; the message says why and what to do."""


class TooFewEpisodesError(ValueError):
    """Too few completed episodes or dropouts to fit a model; the message gives both counts."""

    def __init__(self, episodes: int, dropouts: int, min_episodes: int, min_dropouts: int):
        self.episodes, self.dropouts = episodes, dropouts
        super().__init__(
            f"A dropout model needs at least {min_episodes} completed episodes (ending planned "
            f"or dropout) with at least {min_dropouts} dropouts; the data have {episodes} "
            f"completed episodes, {dropouts} of them dropouts. Until then Ally shows risk "
            "indicators instead of a probability (docs/dropout.md)."
        )


@dataclass(frozen=True)
class Logistic:
    """A standardised logistic regression as plain numbers."""

    means: tuple[float, ...]
    scales: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    def predict_proba(self, x: Array) -> Array:
        z = ((x - np.asarray(self.means)) / np.asarray(self.scales)) @ np.asarray(self.coef)
        return np.asarray(1.0 / (1.0 + np.exp(-(z + self.intercept))), dtype=np.float64)


@dataclass(frozen=True)
class TrainingSummary:
    """What the model was fitted on and how it did on held-out episodes (grouped CV)."""

    episodes: int
    dropouts: int
    sessions: int
    dropout_rate: float
    folds: int
    calibration: str
    logistic_auc: float
    logistic_brier: float
    boosted_auc: float
    boosted_brier: float
    chosen: str


def _matrix(features: Any, names: Sequence[str]) -> Array:
    if isinstance(features, pd.DataFrame):
        missing = [n for n in names if n not in features.columns]
        if missing:
            raise ValueError(f"features lack the columns {missing}; give {list(names)}")
        features = features[list(names)]
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(names):
        raise ValueError(f"features must be a 2-D array with {len(names)} columns: {list(names)}")
    return x


def _threads(n: int) -> Any:
    """Limit OpenMP threads: unlimited, gradient boosting spins on busy shared cores."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=n, user_api="openmp")


def _auc(y: npt.NDArray[np.int64], p: Array) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p))


def _brier(y: npt.NDArray[np.int64], p: Array) -> float:
    return float(np.mean((p - y) ** 2))


class DropoutModel:
    """Dropout risk per session; parameters in the constructor, learned state ends in `_`."""

    def __init__(
        self,
        features: Sequence[str] = FEATURES,
        *,
        min_episodes: int = MIN_EPISODES,
        min_dropouts: int = MIN_DROPOUTS,
        folds: int = 5,
        calibration: Calibration = "auto",
        max_iter: int = 100,
        random_state: int = 0,
        threads: int = 1,
    ) -> None:
        unknown = [f for f in features if f not in FEATURES]
        if unknown:
            raise ValueError(f"unknown features {unknown}; known: {list(FEATURES)}")
        self.features = tuple(features)
        self.min_episodes = min_episodes
        self.min_dropouts = min_dropouts
        self.folds = folds
        self.calibration = calibration
        self.max_iter = max_iter
        self.random_state = random_state
        self.threads = threads
        self.logistic_: Logistic | None = None
        self.boosted_: Any = None
        self.chosen_: str = "logistic"
        self.summary_: TrainingSummary | None = None
        self.notes_: tuple[str, ...] = ()

    def _boosted(self, calibration: str, groups: npt.NDArray[Any], y: Any) -> Any:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.model_selection import GroupKFold

        # Modest trees and large leaves: rows of one episode are correlated, so the effective
        # sample is the number of episodes, not of sessions.
        base = HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=0.05,
            max_leaf_nodes=7,
            min_samples_leaf=100,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=self.random_state,
        )
        splits = list(GroupKFold(n_splits=self.folds).split(np.zeros(len(y)), y, groups))
        # ensemble=False: one model on all rows, calibrated on its out-of-fold predictions.
        return CalibratedClassifierCV(base, method=calibration, cv=splits, ensemble=False)

    def _logistic(self, x: Array, y: npt.NDArray[np.int64]) -> Logistic:
        from sklearn.linear_model import LogisticRegression

        means = x.mean(axis=0)
        scales = x.std(axis=0)
        scales[scales == 0] = 1.0
        lr = LogisticRegression(C=1.0, max_iter=2000).fit((x - means) / scales, y)
        return Logistic(
            tuple(map(float, means)),
            tuple(map(float, scales)),
            tuple(map(float, lr.coef_[0])),
            float(lr.intercept_[0]),
        )

    def fit(self, features: Any, dropout: Any, episodes: Any) -> DropoutModel:
        """Fit on session rows of completed episodes: features, 0/1 label, episode id per row."""
        with _threads(self.threads):
            return self._fit(features, dropout, episodes)

    def _fit(self, features: Any, dropout: Any, episodes: Any) -> DropoutModel:
        from sklearn.model_selection import GroupKFold

        x = _matrix(features, self.features)
        y = np.asarray(dropout, dtype=np.int64)
        groups = np.asarray(episodes)
        labels = pd.Series(y).groupby(groups).max()
        n_episodes, n_dropouts = len(labels), int(labels.sum())
        if n_episodes < self.min_episodes or n_dropouts < self.min_dropouts:
            raise TooFewEpisodesError(n_episodes, n_dropouts, self.min_episodes, self.min_dropouts)
        # Isotonic calibration overfits small calibration sets; Platt's sigmoid is safer there
        # (Niculescu-Mizil & Caruana 2005, ICML).
        calibration = self.calibration
        if calibration == "auto":
            calibration = "isotonic" if n_episodes >= 1000 else "sigmoid"

        # Held-out estimates: grouped folds, so no episode is in both training and validation.
        p_lr = np.empty(len(y))
        p_gb = np.empty(len(y))
        for train, test in GroupKFold(n_splits=self.folds).split(x, y, groups):
            p_lr[test] = self._logistic(x[train], y[train]).predict_proba(x[test])
            gb = self._boosted(calibration, groups[train], y[train]).fit(x[train], y[train])
            p_gb[test] = gb.predict_proba(x[test])[:, 1]
        self.logistic_ = self._logistic(x, y)
        self.boosted_ = self._boosted(calibration, groups, y).fit(x, y)
        scores = {"logistic": _brier(y, p_lr), "boosted": _brier(y, p_gb)}
        self.chosen_ = min(scores, key=lambda k: scores[k])
        self.summary_ = TrainingSummary(
            episodes=n_episodes,
            dropouts=n_dropouts,
            sessions=len(y),
            dropout_rate=n_dropouts / n_episodes,
            folds=self.folds,
            calibration=calibration,
            logistic_auc=_auc(y, p_lr),
            logistic_brier=scores["logistic"],
            boosted_auc=_auc(y, p_gb),
            boosted_brier=scores["boosted"],
            chosen=self.chosen_,
        )
        left_out = [f for f in FEATURES if f not in self.features]
        self.notes_ = (
            (f"features left out (not in the data): {', '.join(left_out)}",) if left_out else ()
        )
        return self

    def predict_proba(self, features: Any) -> Array:
        """Dropout risk of each row: features as a 2-D array or DataFrame in `self.features`."""
        x = _matrix(features, self.features)
        if self.chosen_ == "boosted" and self.boosted_ is not None:
            with _threads(self.threads):
                return np.asarray(self.boosted_.predict_proba(x)[:, 1], dtype=np.float64)
        return self.baseline_proba(x)

    def baseline_proba(self, features: Any) -> Array:
        """The logistic baseline's risk, for comparison."""
        if self.logistic_ is None:
            raise ValueError("the model is not fitted: call fit first")
        return self.logistic_.predict_proba(_matrix(features, self.features))

    def to_json(self) -> str:
        """The fitted model as plain JSON (the boosted model as a skops file in base64)."""
        import sklearn
        import skops.io as sio

        if self.logistic_ is None or self.summary_ is None:
            raise ValueError("the model is not fitted: call fit first")
        boosted = None
        if self.boosted_ is not None:
            raw = sio.dumps(self.boosted_, compression=zipfile.ZIP_DEFLATED)
            boosted = {
                "scikit_learn": sklearn.__version__,
                "skops": base64.b64encode(raw).decode("ascii"),
            }
        data = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "feature_set_version": FEATURE_SET_VERSION,
            "ally_version": _ally_version(),
            "features": list(self.features),
            "notes": list(self.notes_),
            "parameters": {
                "min_episodes": self.min_episodes,
                "min_dropouts": self.min_dropouts,
                "folds": self.folds,
                "calibration": self.calibration,
                "max_iter": self.max_iter,
                "random_state": self.random_state,
                "threads": self.threads,
            },
            "training": asdict(self.summary_),
            "chosen": self.chosen_,
            "logistic": asdict(self.logistic_),
            "boosted": boosted,
        }
        return json.dumps(data, indent=1)

    @classmethod
    def from_json(cls, text: str, origin: str = "the dropout model") -> DropoutModel:
        """A model from `to_json`'s text; DropoutModelError if it was made for another format."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DropoutModelError(f"{origin}: not JSON ({exc}).") from exc
        refit = "Fit it again with `ally risk fit`."
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DropoutModelError(f"{origin}: not an Ally dropout model. {refit}")
        if data.get("format_version") != FORMAT_VERSION:
            raise DropoutModelError(
                f"{origin}: format version {data.get('format_version')}, this Ally reads "
                f"{FORMAT_VERSION}. {refit}"
            )
        if data.get("feature_set_version") != FEATURE_SET_VERSION:
            raise DropoutModelError(
                f"{origin}: made for feature set {data.get('feature_set_version')}, this Ally "
                f"computes feature set {FEATURE_SET_VERSION}. {refit}"
            )
        features = data.get("features", [])
        unknown = [f for f in features if f not in FEATURES]
        if unknown or not features:
            raise DropoutModelError(f"{origin}: unknown features {unknown}. {refit}")
        params = data["parameters"]
        model = cls(features, **params)
        model.logistic_ = Logistic(**_tuples(data["logistic"]))
        model.summary_ = TrainingSummary(**data["training"])
        model.chosen_ = data["chosen"]
        model.notes_ = tuple(data.get("notes", []))
        if data.get("boosted") is not None:
            model.boosted_ = _load_boosted(data["boosted"], origin, refit)
        return model


def _tuples(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def _load_boosted(stored: Mapping[str, Any], origin: str, refit: str) -> Any:
    import skops.io as sio

    raw = base64.b64decode(stored["skops"])
    untrusted = [t for t in sio.get_untrusted_types(data=raw) if t not in TRUSTED_TYPES]
    if untrusted:
        raise DropoutModelError(
            f"{origin}: the stored model contains types Ally does not trust: {untrusted}. {refit}"
        )
    try:
        return sio.loads(raw, trusted=TRUSTED_TYPES)
    except Exception as exc:  # skops raises many types on a file from another sklearn
        raise DropoutModelError(
            f"{origin}: the boosted model (scikit-learn {stored.get('scikit_learn')}) cannot be "
            f"loaded here ({exc}). {refit}"
        ) from exc


def _ally_version() -> str:
    try:
        return metadata.version("ally")
    except metadata.PackageNotFoundError:
        return "unknown"


def load_dropout_model(path: Path | str) -> DropoutModel:
    """Read a model written by `ally risk fit`; DropoutModelError names the problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DropoutModelError(f"{path}: cannot be read ({exc.strerror}).") from exc
    return DropoutModel.from_json(text, origin=str(path))


def calibration_table(y: Any, p: Any, bins: int = 10) -> pd.DataFrame:
    """Observed against mean predicted dropout in bins of predicted risk (deciles by default)."""
    frame = pd.DataFrame({"y": np.asarray(y, dtype=float), "p": np.asarray(p, dtype=float)})
    frame["bin"] = pd.qcut(frame.p.rank(method="first"), bins, labels=False)
    return (
        frame.groupby("bin")
        .agg(n=("y", "size"), predicted=("p", "mean"), observed=("y", "mean"))
        .reset_index(drop=True)
    )


@dataclass(frozen=True)
class IndicatorThresholds:
    """Cut-offs of the transparent risk indicators; alliance as a share of the measure's range."""

    # SRS below 36 of 40 is OpenFIT's red alliance flag (SPECS 8): 0.9 of the range.
    low_alliance: float = 0.9
    # Lambert's rational rules look for adequate change from the third session (SPECS 3).
    progress_from_session: int = 3
    long_gap_days: float = 14.0


def risk_indicators(
    features: Any, thresholds: IndicatorThresholds = IndicatorThresholds()
) -> dict[str, Any]:
    """Named flags per session from session_features' columns (an Ibis table or a DataFrame).

    Uses only comparisons and `&`, so it works on Ibis columns, pandas Series and numpy arrays.
    """
    f = features
    alliance_known = f["alliance_missing"] == 0
    outcome_known = f["outcome_missing"] == 0
    return {
        # Poor early alliance predicts dropout (Sharf et al. 2010, d ≈ .55).
        "low_alliance": alliance_known & (f["alliance_now"] < thresholds.low_alliance),
        # Any drop in alliance from the previous rating (OpenFIT's SRS rule, SPECS 8).
        "alliance_drop": alliance_known & (f["alliance_change"] < 0),
        # Unrepaired ruptures predict worse outcome (McLaughlin et al. 2014, SPECS 4).
        "unrepaired_rupture": f["unrepaired_rupture"] == 1,
        # No improvement by session 3 (Lambert et al. 2001 rational rules, SPECS 3).
        "no_progress": outcome_known
        & (f["session"] >= thresholds.progress_from_session)
        & (f["outcome_change"] <= 0),
        # Reliable deterioration so far (Lambert's red signal; Hannan et al. 2005).
        "deteriorated": f["deteriorated"] == 1,
        # A gap longer than two weeks: missed sessions (Ally's convention, not validated).
        "long_gap": (f["days_missing"] == 0)
        & (f["days_since_previous"] > thresholds.long_gap_days),
    }


INDICATORS: tuple[str, ...] = (
    "low_alliance",
    "alliance_drop",
    "unrepaired_rupture",
    "no_progress",
    "deteriorated",
    "long_gap",
)


def too_few_message(
    episodes: int, dropouts: int, min_episodes: int = MIN_EPISODES, min_dropouts: int = MIN_DROPOUTS
) -> str:
    """What the practice sees instead of a probability while it has too little history."""
    return str(TooFewEpisodesError(episodes, dropouts, min_episodes, min_dropouts))


__all__ = [
    "FEATURES",
    "INDICATORS",
    "DropoutModel",
    "DropoutModelError",
    "IndicatorThresholds",
    "TooFewEpisodesError",
    "calibration_table",
    "load_dropout_model",
    "risk_indicators",
    "too_few_message",
]
