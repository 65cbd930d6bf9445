"""Dropout risk: the probability that an episode ends in dropout, given its sessions so far.

A logistic regression (the baseline, SPECS 5) and a calibrated gradient-boosted model are fitted
on a practice's completed episodes, one row per session; the one with the lower cross-validated
Brier score on held-out episodes is used. With too few episodes, `risk_indicators` stand in.

Fitting needs scikit-learn and pandas; applying a fitted model needs numpy alone: both models
are kept as plain numbers, so that the web app scores an episode without importing either.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from ally.feedback.dropout_features import FEATURE_SET_VERSION, FEATURES

if TYPE_CHECKING:
    import pandas as pd

FORMAT = "ally-dropout-model"
# 2: the boosted model as plain trees and calibration instead of a skops file.
FORMAT_VERSION = 2
MIN_EPISODES = 100
MIN_DROPOUTS = 20
# Rows × trees scored at once by the boosted trees: bounds their arrays to 8 MB each.
CHUNK_CELLS = 1 << 20

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
        # A row's sum in numpy's own pairwise order, not BLAS's: a matrix product's rounding
        # depends on how many rows share the call, and an episode's risk must not depend on
        # which other episodes share its batch.
        scaled = (x - np.asarray(self.means)) / np.asarray(self.scales)
        z = np.ascontiguousarray(scaled * np.asarray(self.coef)).sum(axis=1)
        return np.asarray(1.0 / (1.0 + np.exp(-(z + self.intercept))), dtype=np.float64)


@dataclass(frozen=True)
class Tree:
    """One regression tree in scikit-learn's layout: node 0 the root, children after parents.

    A split node sends a row `left` when `feature` <= `threshold`, a NaN when `missing_left`.
    """

    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    missing_left: tuple[bool, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    value: tuple[float, ...]
    is_leaf: tuple[bool, ...]


@dataclass(frozen=True)
class SigmoidCalibration:
    """Platt scaling in scikit-learn's signs: p = 1 / (1 + exp(a·score + b)) (Platt 2000)."""

    a: float
    b: float

    def __call__(self, score: Array) -> Array:
        with np.errstate(over="ignore"):  # exp(+large) = inf gives p = 0, as scipy's expit
            return np.asarray(1.0 / (1.0 + np.exp(self.a * score + self.b)), dtype=np.float64)


@dataclass(frozen=True)
class IsotonicCalibration:
    """Isotonic calibration: linear between the fitted points, their end values beyond them."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    def __call__(self, score: Array) -> Array:
        # IsotonicRegression(out_of_bounds="clip") clips to the first and last x, as np.interp.
        return np.asarray(np.interp(score, self.x, self.y), dtype=np.float64)


@dataclass(frozen=True)
class _Nodes:
    """All trees' nodes in one set of arrays, children as indices into them."""

    roots: npt.NDArray[np.intp]
    feature: npt.NDArray[np.intp]
    threshold: Array
    missing_left: npt.NDArray[np.bool_]
    left: npt.NDArray[np.intp]
    right: npt.NDArray[np.intp]
    value: Array
    is_leaf: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class BoostedTrees:
    """The calibrated gradient-boosted model as plain numbers, applied with numpy alone.

    It gives scikit-learn's `CalibratedClassifierCV(HistGradientBoostingClassifier)`
    probabilities: the raw score is `baseline` plus one leaf value of each tree, and the
    calibration turns the score into the probability of dropout.
    """

    baseline: float
    trees: tuple[Tree, ...]
    calibration: SigmoidCalibration | IsotonicCalibration

    @cached_property
    def _nodes(self) -> _Nodes:
        sizes = [len(t.value) for t in self.trees]
        roots = np.cumsum([0, *sizes[:-1]]).astype(np.intp)
        root_of_node = np.repeat(roots, sizes)

        def joined(field: str, dtype: Any) -> Any:
            return np.concatenate([np.asarray(getattr(t, field), dtype=dtype) for t in self.trees])

        return _Nodes(
            roots=roots,
            feature=joined("feature", np.intp),
            threshold=joined("threshold", np.float64),
            missing_left=joined("missing_left", np.bool_),
            left=root_of_node + joined("left", np.intp),
            right=root_of_node + joined("right", np.intp),
            value=joined("value", np.float64),
            is_leaf=joined("is_leaf", np.bool_),
        )

    def decision_function(self, x: Array) -> Array:
        """The raw score of each row of a 2-D array (log-odds before calibration)."""
        step = max(1, CHUNK_CELLS // len(self.trees))
        return np.concatenate(
            [self._score(x[i : i + step]) for i in range(0, len(x), step)] or [np.empty(0)]
        )

    def _score(self, x: Array) -> Array:
        nodes = self._nodes
        rows = np.arange(len(x))[:, np.newaxis]
        at = np.tile(nodes.roots, (len(x), 1))  # each row's current node in each tree
        while not (leaf := nodes.is_leaf[at]).all():
            v = x[rows, nodes.feature[at]]
            go_left = np.where(np.isnan(v), nodes.missing_left[at], v <= nodes.threshold[at])
            at = np.where(leaf, at, np.where(go_left, nodes.left[at], nodes.right[at]))
        leaves = nodes.value[at]
        score = np.full(len(x), self.baseline)
        # Tree by tree, in scikit-learn's order, so that the sum is the same to the last bit.
        for column in leaves.T:
            score += column
        return score

    def predict_proba(self, x: Array) -> Array:
        """The calibrated probability of dropout of each row of a 2-D array."""
        p = self.calibration(self.decision_function(x))
        # As scikit-learn's _CalibratedClassifier: a rounding error above 1 is set to 1.
        return np.where((p > 1.0) & (p <= 1.0 + 1e-5), 1.0, p)

    @classmethod
    def from_sklearn(cls, calibrated: Any) -> BoostedTrees:
        """The numbers of a fitted `CalibratedClassifierCV(HistGradientBoostingClassifier,
        ensemble=False)` on 0/1 labels; ValueError for anything `predict_proba` cannot repeat."""
        if len(calibrated.calibrated_classifiers_) != 1:
            raise ValueError("only a calibrated classifier fitted with ensemble=False is supported")
        (pair,) = calibrated.calibrated_classifiers_
        boosted = pair.estimator
        if list(calibrated.classes_) != [0, 1] or boosted.n_trees_per_iteration_ != 1:
            raise ValueError("only binary classification with labels 0 and 1 is supported")
        if boosted.is_categorical_ is not None:
            raise ValueError("categorical features are not supported")
        (calibrator,) = pair.calibrators
        calibration: SigmoidCalibration | IsotonicCalibration
        if pair.method == "sigmoid":
            # _SigmoidCalibration.predict is expit(-(a_·score + b_)).
            calibration = SigmoidCalibration(float(calibrator.a_), float(calibrator.b_))
        elif pair.method == "isotonic" and calibrator.out_of_bounds == "clip":
            calibration = IsotonicCalibration(
                tuple(calibrator.X_thresholds_.tolist()), tuple(calibrator.y_thresholds_.tolist())
            )
        else:
            raise ValueError(
                f"calibration {pair.method!r} is not supported: use 'sigmoid' or 'isotonic'"
            )
        return cls(
            baseline=float(boosted._baseline_prediction[0, 0]),
            trees=tuple(_tree(predictors[0].nodes) for predictors in boosted._predictors),
            calibration=calibration,
        )


def _tree(nodes: Any) -> Tree:
    """A Tree from a TreePredictor's structured array of nodes."""
    if nodes["is_categorical"].any():
        raise ValueError("categorical splits are not supported")
    return Tree(
        feature=tuple(nodes["feature_idx"].tolist()),
        threshold=tuple(nodes["num_threshold"].tolist()),
        missing_left=tuple(nodes["missing_go_to_left"].astype(bool).tolist()),
        left=tuple(nodes["left"].tolist()),
        right=tuple(nodes["right"].tolist()),
        value=tuple(nodes["value"].tolist()),
        is_leaf=tuple(nodes["is_leaf"].astype(bool).tolist()),
    )


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
    # A table (pandas, polars) is told by its columns, so that pandas need not be imported.
    columns = getattr(features, "columns", None)
    if columns is not None:
        missing = [n for n in names if n not in list(columns)]
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
        self.boosted_: BoostedTrees | None = None
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

    def _fit_boosted(
        self, calibration: str, x: Array, y: npt.NDArray[np.int64], groups: npt.NDArray[Any]
    ) -> BoostedTrees:
        return BoostedTrees.from_sklearn(self._boosted(calibration, groups, y).fit(x, y))

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
        import pandas as pd
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
        # Each fold's model is scored as the final one will be, by the numpy trees.
        p_lr = np.empty(len(y))
        p_gb = np.empty(len(y))
        for train, test in GroupKFold(n_splits=self.folds).split(x, y, groups):
            p_lr[test] = self._logistic(x[train], y[train]).predict_proba(x[test])
            gb = self._fit_boosted(calibration, x[train], y[train], groups[train])
            p_gb[test] = gb.predict_proba(x[test])
        self.logistic_ = self._logistic(x, y)
        self.boosted_ = self._fit_boosted(calibration, x, y, groups)
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
            return self.boosted_.predict_proba(x)
        return self.baseline_proba(x)

    def baseline_proba(self, features: Any) -> Array:
        """The logistic baseline's risk, for comparison."""
        if self.logistic_ is None:
            raise ValueError("the model is not fitted: call fit first")
        return self.logistic_.predict_proba(_matrix(features, self.features))

    def to_json(self) -> str:
        """The fitted model as plain JSON (docs/dropout.md, "The model file")."""
        if self.logistic_ is None or self.summary_ is None:
            raise ValueError("the model is not fitted: call fit first")
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
            "boosted": None if self.boosted_ is None else _boosted_data(self.boosted_),
        }
        return _dumps(data)

    @classmethod
    def from_json(cls, text: str, origin: str = "the dropout model") -> DropoutModel:
        """A model from `to_json`'s text; DropoutModelError if it was made for another format."""
        refit = "Fit the practice model again with `ally fit`."
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DropoutModelError(f"{origin}: not JSON ({exc}). {refit}") from exc
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
        try:
            model = cls(features, **data["parameters"])
            model.logistic_ = Logistic(**_tuples(data["logistic"]))
            model.summary_ = TrainingSummary(**data["training"])
            model.notes_ = tuple(data.get("notes", []))
            if data.get("boosted") is not None:
                model.boosted_ = _boosted_from(data["boosted"], len(features))
            model.chosen_ = data["chosen"]
            if model.chosen_ not in ("logistic", "boosted"):
                raise ValueError(f"chosen is {model.chosen_!r}, not 'logistic' or 'boosted'")
            if model.chosen_ == "boosted" and model.boosted_ is None:
                raise ValueError("the boosted model is chosen but not stored")
        except (KeyError, TypeError, ValueError) as exc:
            raise DropoutModelError(
                f"{origin}: incomplete or damaged model ({exc!r}). {refit}"
            ) from exc
        return model


def _tuples(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def _boosted_data(boosted: BoostedTrees) -> dict[str, Any]:
    """The boosted model as JSON data; flags as 0/1 and a threshold of +inf as null."""
    c = boosted.calibration
    calibration = (
        {"method": "sigmoid", "a": c.a, "b": c.b}
        if isinstance(c, SigmoidCalibration)
        else {"method": "isotonic", "x": list(c.x), "y": list(c.y)}
    )
    trees = [
        {
            "feature": list(t.feature),
            "threshold": [None if v == np.inf else v for v in t.threshold],
            "missing_left": [int(v) for v in t.missing_left],
            "left": list(t.left),
            "right": list(t.right),
            "value": list(t.value),
            "is_leaf": [int(v) for v in t.is_leaf],
        }
        for t in boosted.trees
    ]
    return {"baseline": boosted.baseline, "calibration": calibration, "trees": trees}


def _boosted_from(data: Mapping[str, Any], n_features: int) -> BoostedTrees:
    """The boosted model from `_boosted_data`'s form; ValueError names what is wrong."""
    c = data["calibration"]
    calibration: SigmoidCalibration | IsotonicCalibration
    if c["method"] == "sigmoid":
        calibration = SigmoidCalibration(float(c["a"]), float(c["b"]))
    elif c["method"] == "isotonic":
        x, y = tuple(map(float, c["x"])), tuple(map(float, c["y"]))
        if not x or len(x) != len(y) or np.any(np.diff(x) <= 0):
            raise ValueError("isotonic calibration needs as many y as increasing x")
        calibration = IsotonicCalibration(x, y)
    else:
        raise ValueError(f"calibration method {c['method']!r}; this Ally reads sigmoid, isotonic")
    trees = tuple(_tree_from(t, i, n_features) for i, t in enumerate(data["trees"]))
    if not trees:
        raise ValueError("the boosted model has no trees")
    return BoostedTrees(float(data["baseline"]), trees, calibration)


def _tree_from(data: Mapping[str, Any], index: int, n_features: int) -> Tree:
    tree = Tree(
        feature=tuple(map(int, data["feature"])),
        threshold=tuple(np.inf if v is None else float(v) for v in data["threshold"]),
        missing_left=tuple(map(bool, data["missing_left"])),
        left=tuple(map(int, data["left"])),
        right=tuple(map(int, data["right"])),
        value=tuple(map(float, data["value"])),
        is_leaf=tuple(map(bool, data["is_leaf"])),
    )
    n = len(tree.value)
    if n == 0 or any(len(getattr(tree, f)) != n for f in Tree.__dataclass_fields__):
        raise ValueError(f"tree {index}: its node lists are empty or of unequal length")
    for i in range(n):
        # Children after their parent: every path ends at a leaf.
        if not tree.is_leaf[i] and not (
            i < tree.left[i] < n and i < tree.right[i] < n and 0 <= tree.feature[i] < n_features
        ):
            raise ValueError(f"tree {index}, node {i}: a child or feature out of range")
    return tree


def _dumps(value: Any, indent: str = "") -> str:
    """JSON as `json.dumps(indent=1)`, but a list of numbers or strings on one line."""
    inner = indent + " "
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(k)}: {_dumps(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        return "[\n" + ",\n".join(inner + _dumps(v, inner) for v in value) + "\n" + indent + "]"
    return json.dumps(value, allow_nan=False)


def _ally_version() -> str:
    try:
        return metadata.version("ally")
    except metadata.PackageNotFoundError:
        return "unknown"


def load_dropout_model(path: Path | str) -> DropoutModel:
    """Read a dropout model from a file; DropoutModelError names the problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DropoutModelError(f"{path}: cannot be read ({exc.strerror}).") from exc
    return DropoutModel.from_json(text, origin=str(path))


def calibration_table(y: Any, p: Any, bins: int = 10) -> pd.DataFrame:
    """Observed against mean predicted dropout in bins of predicted risk (deciles by default)."""
    import pandas as pd

    frame = pd.DataFrame({"y": np.asarray(y, dtype=float), "p": np.asarray(p, dtype=float)})
    frame["bin"] = pd.qcut(frame.p.rank(method="first"), bins, labels=False)
    return (
        frame.groupby("bin")
        .agg(n=("y", "size"), predicted=("p", "mean"), observed=("y", "mean"))
        .reset_index(drop=True)
    )


@dataclass(frozen=True)
class IndicatorThresholds:
    """Cut-offs of the transparent risk indicators. Low alliance is per measure, in the practice
    model (`MeasureModel.low_alliance`), and `ally.feedback.results` adds it."""

    # Lambert's rational rules look for adequate change from the third session (SPECS 3).
    progress_from_session: int = 3
    long_gap_days: float = 14.0


def risk_indicators(
    features: Any, thresholds: IndicatorThresholds = IndicatorThresholds()
) -> dict[str, Any]:
    """Named flags per session from the dropout features (`features_of`), by column name; all
    of INDICATORS but low alliance, whose threshold is each measure's (`ally.feedback.results`).

    Uses only comparisons and `&`, so it works on numpy columns and pandas Series alike.
    """
    f = features
    alliance_known = f["alliance_missing"] == 0
    outcome_known = f["outcome_missing"] == 0
    return {
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
    # Poor early alliance predicts dropout (Sharf et al. 2010, d ≈ .55).
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
