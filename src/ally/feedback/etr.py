"""Expected treatment response: the expected score and tolerance band by intake and session.

Two sources give the same three curves (`expected`, `low`, `high` of intake and ln(session)):
`RationalEtr`, a documented rule that needs no data (in the spirit of Lambert et al. 2001's
rational method), and `EtrModel`, quantile regression fitted on a practice's own completed
episodes (after Finch, Lambert & Schaalje 2001's log-session curves; SPECS 3). The curves use
only arithmetic on their arguments, so the batch engine applies them to columns; callers clip
intake and ln(session) to the model's range first (`predict_band` does it for numbers).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np
import numpy.typing as npt

from ally.change.generic import N
from ally.feedback.signals import AlertBudget, BudgetLevel, SignalThresholds
from ally.measures.schema import Direction

if TYPE_CHECKING:
    import pandas as pd

FORMAT = "ally-etr-model"
FORMAT_VERSION = 1
DEFAULT_QUANTILES = (0.1, 0.5, 0.9)
MIN_EPISODES = 50
MIN_SESSIONS = 3
MIN_AT_SESSION = 10
COMPLETED = frozenset({"planned", "dropout"})
REQUIRED_COLUMNS = ("client", "session", "measure", "score")

Array = npt.NDArray[np.float64]


class EtrModelError(Exception):
    """An ETR model file that cannot be used here; the message says why and what to do."""


class TooLittleDataError(ValueError):
    """Too few usable episodes to fit an ETR model; the message gives what is needed and found."""

    def __init__(
        self,
        found: int,
        min_episodes: int,
        min_sessions: int,
        detail: str = "",
        completed: bool = False,
    ):
        self.found, self.min_episodes, self.min_sessions = found, min_episodes, min_sessions
        kind = "completed episodes (ending planned or dropout)" if completed else "episodes"
        super().__init__(
            f"An expected-response model needs at least {min_episodes} {kind} with a session-1 "
            f"score and at least {min_sessions} sessions; the data have {found}.{detail} Until "
            "then use the rational signals (docs/feedback.md)."
        )


class ExpectedResponse(Protocol):
    """The expected score and band for an intake score and ln(session), both already clipped."""

    @property
    def min_log_session(self) -> float: ...
    @property
    def max_log_session(self) -> float: ...
    @property
    def intake_range(self) -> tuple[float, float]: ...

    def expected(self, intake: N, log_session: N) -> N: ...
    def low(self, intake: N, log_session: N) -> N: ...
    def high(self, intake: N, log_session: N) -> N: ...


# --- The rational method -------------------------------------------------------------------


@dataclass(frozen=True)
class RationalEtr:
    """Expected course without data: one reliable change value of improvement by
    `target_session`, along ln(session); the band is ± `band_width` reliable change values."""

    reliable_change: float
    sign: int
    """+1 when higher scores are better, -1 when lower are."""
    target_session: int = 8
    band_width: float = 1.0

    def __post_init__(self) -> None:
        if self.sign not in (1, -1):
            raise ValueError(f"sign must be +1 or -1, not {self.sign}")
        if not self.reliable_change > 0 or not self.band_width > 0:
            raise ValueError("reliable_change and band_width must be positive")
        if self.target_session < 2:
            raise ValueError(f"target_session must be 2 or more, not {self.target_session}")

    @property
    def min_log_session(self) -> float:
        return 0.0

    @property
    def max_log_session(self) -> float:
        """ln(target_session): the expected course holds its value after the target session."""
        return math.log(self.target_session)

    @property
    def intake_range(self) -> tuple[float, float]:
        return (-math.inf, math.inf)

    def expected(self, intake: N, log_session: N) -> N:
        # Improvement grows with ln(session), as dose-response curves do (Howard et al. 1986).
        step = self.sign * self.reliable_change / self.max_log_session
        return cast(N, intake + step * log_session)

    def low(self, intake: N, log_session: N) -> N:
        return cast(N, self.expected(intake, log_session) - self.band_width * self.reliable_change)

    def high(self, intake: N, log_session: N) -> N:
        return cast(N, self.expected(intake, log_session) + self.band_width * self.reliable_change)


# --- The empirical model -------------------------------------------------------------------


@dataclass(frozen=True)
class QuantileCurve:
    """One conditional quantile: q = a + b·intake + (c + d·intake)·ln(session)."""

    quantile: float
    intercept: float
    intake: float
    log_session: float
    intake_log_session: float

    def __call__(self, intake: N, log_session: N) -> N:
        slope = self.log_session + self.intake_log_session * intake
        return cast(N, self.intercept + self.intake * intake + slope * log_session)


@dataclass(frozen=True)
class TrainingRange:
    """Where the model was fitted; predictions hold the edge values beyond it."""

    intake_min: float
    intake_max: float
    min_session: int
    max_session: int


@dataclass(frozen=True)
class TrainingSummary:
    """What the model was fitted on."""

    episodes: int
    """Episodes with a session-1 score and at least one later score, used in the fit."""
    sessions: int
    """Scores after session 1 used in the fit."""
    completed_only: bool
    """True when the data had an `ending` column and only planned or dropout endings were used."""
    not_completed: int
    skipped_no_intake: int
    """Episodes without a session-1 score."""
    skipped_no_followup: int
    """Episodes with only a session-1 score."""
    beyond_range: int
    """Scores after `max_session`, left out of the fit."""
    fitted: str
    """Date fitted, ISO 8601."""


@dataclass(frozen=True)
class EtrModel:
    """A fitted expected treatment response for one measure and version."""

    measure_id: str
    measure_version: str
    direction: Direction
    curves: tuple[QuantileCurve, ...]
    range: TrainingRange
    summary: TrainingSummary
    band_method: str = "quantile regression"
    """Or "location shift" when the free fits crossed inside the training range."""
    thresholds: SignalThresholds = field(default_factory=SignalThresholds)
    budget: AlertBudget | None = None
    ally_version: str = ""

    @property
    def quantiles(self) -> tuple[float, ...]:
        return tuple(c.quantile for c in self.curves)

    def curve(self, quantile: float) -> QuantileCurve:
        for c in self.curves:
            if math.isclose(c.quantile, quantile):
                return c
        raise KeyError(f"quantile {quantile} is not in this model; it has {self.quantiles}")

    @property
    def min_log_session(self) -> float:
        return math.log(self.range.min_session)

    @property
    def max_log_session(self) -> float:
        return math.log(self.range.max_session)

    @property
    def intake_range(self) -> tuple[float, float]:
        return (self.range.intake_min, self.range.intake_max)

    def expected(self, intake: N, log_session: N) -> N:
        """The median score of similar clients at this session."""
        return self.curve(0.5)(intake, log_session)

    def low(self, intake: N, log_session: N) -> N:
        """The lowest fitted quantile (the band's lower edge)."""
        return self.curves[0](intake, log_session)

    def high(self, intake: N, log_session: N) -> N:
        """The highest fitted quantile (the band's upper edge)."""
        return self.curves[-1](intake, log_session)

    def to_json(self) -> str:
        """The model as plain JSON (docs/feedback.md, "The model file")."""
        data = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "ally_version": self.ally_version,
            "measure": {
                "id": self.measure_id,
                "version": self.measure_version,
                "direction": self.direction.value,
            },
            "method": "quantile regression of score on intake, ln(session) and their product",
            "band_method": self.band_method,
            "quantiles": list(self.quantiles),
            "coefficients": [asdict(c) for c in self.curves],
            "training_range": asdict(self.range),
            "training": asdict(self.summary),
            "signals": asdict(self.thresholds),
            "alert_budget": _budget_data(self.budget),
        }
        return json.dumps(data, indent=1)

    @classmethod
    def from_json(cls, text: str, origin: str = "the ETR model") -> EtrModel:
        """A model from `to_json`'s text; EtrModelError if it is not one this Ally reads."""
        refit = "Fit the practice model again with `ally fit`."
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise EtrModelError(f"{origin}: not JSON ({exc}). {refit}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise EtrModelError(f"{origin}: not an Ally expected-response model. {refit}")
        if data.get("format_version") != FORMAT_VERSION:
            raise EtrModelError(
                f"{origin}: format version {data.get('format_version')}, but this Ally reads "
                f"version {FORMAT_VERSION}. {refit}"
            )
        try:
            measure = data["measure"]
            curves = tuple(QuantileCurve(**c) for c in data["coefficients"])
            return cls(
                measure_id=str(measure["id"]),
                measure_version=str(measure["version"]),
                direction=Direction(measure["direction"]),
                curves=curves,
                range=TrainingRange(**data["training_range"]),
                summary=TrainingSummary(**data["training"]),
                band_method=str(data.get("band_method", "quantile regression")),
                thresholds=SignalThresholds(**data.get("signals", {})),
                budget=_budget_from(data.get("alert_budget")),
                ally_version=str(data.get("ally_version", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EtrModelError(
                f"{origin}: incomplete or damaged model ({exc!r}). {refit}"
            ) from exc


def _budget_data(budget: AlertBudget | None) -> dict[str, Any] | None:
    if budget is None:
        return None
    data = asdict(budget)
    data["level"] = budget.level.value
    return data


def _budget_from(data: dict[str, Any] | None) -> AlertBudget | None:
    if data is None:
        return None
    return AlertBudget(
        **{**data, "level": BudgetLevel(data["level"])}
        | {"thresholds": SignalThresholds(**data["thresholds"])}
    )


def load_etr(path: Path | str, measure_id: str, measure_version: str) -> EtrModel:
    """Read an expected-course model from a file, checking it was fitted for this measure and
    version; EtrModelError names the problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EtrModelError(f"{path}: cannot be read ({exc.strerror}).") from exc
    model = EtrModel.from_json(text, origin=str(path))
    if model.measure_id != measure_id:
        raise EtrModelError(
            f"{path}: this model is for {model.measure_id}, not {measure_id}. Use the "
            f"{measure_id} model, or fit one with `ally fit DATA`."
        )
    if model.measure_version != measure_version:
        raise EtrModelError(
            f"{path}: this model was fitted on {measure_id} version {model.measure_version}, but "
            f"the scores are version {measure_version}; scores of different versions are not "
            "comparable. Fit a model on data of this version."
        )
    return model


def predict_band(
    model: ExpectedResponse, intake: npt.ArrayLike, session: npt.ArrayLike
) -> tuple[Array, Array, Array]:
    """Expected score, low and high edges for numbers or numpy arrays, clipped to the range."""
    x = np.clip(np.asarray(intake, dtype=np.float64), *model.intake_range)
    t = np.clip(
        np.log(np.asarray(session, dtype=np.float64)), model.min_log_session, model.max_log_session
    )
    return model.expected(x, t), model.low(x, t), model.high(x, t)


# --- Fitting -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingData:
    """Scores after session 1 with each episode's intake, and what was left out and why."""

    rows: pd.DataFrame
    """Columns episode, session, log_session, intake, score; sessions 2 and later."""
    completed_only: bool
    not_completed: int
    skipped_no_intake: int
    skipped_no_followup: int
    sessions_per_episode: pd.Series


def training_data(data: pd.DataFrame, measure_id: str) -> TrainingData:
    """The client-rated scores of `measure_id` by episode, with intake = the session-1 score.

    Completed episodes only (ending planned or dropout) when the data have an `ending` column.
    """
    import pandas as pd

    missing = [c for c in REQUIRED_COLUMNS if c not in data.columns]
    if missing:
        raise ValueError(
            f"the data have no column {', '.join(missing)}; they need {', '.join(REQUIRED_COLUMNS)}"
            " (optionally episode, rater and ending), as `ally analyze` writes in `sessions`"
        )
    frame = data[data["measure"].astype(str) == measure_id]
    if "rater" in frame.columns:
        frame = frame[frame["rater"].fillna("client").astype(str) == "client"]
    client = frame["client"].astype(str)
    episode = frame["episode"].fillna(frame["client"]) if "episode" in frame.columns else None
    key = client if episode is None else client + "\x1f" + episode.astype(str)
    return training_rows(
        key.to_numpy(),
        pd.to_numeric(frame["session"], errors="coerce").to_numpy(),
        pd.to_numeric(frame["score"], errors="coerce").to_numpy(),
        frame["ending"].to_numpy() if "ending" in frame.columns else None,
    )


def training_rows(
    episode: npt.ArrayLike,
    session: npt.ArrayLike,
    score: npt.ArrayLike,
    ending: npt.ArrayLike | None = None,
) -> TrainingData:
    """`training_data` of one measure's client-rated rows as columns: any episode keys (the
    engine's episode numbers, or text), sessions, scores and, when the data say how episodes
    ended, each row's ending (None where the row gives none). A row whose session or score is
    missing or infinite, or whose session is not a whole number from 1, is left out."""
    import pandas as pd

    # Numpy over episode codes (first-seen order), not pandas frames: at 10 M rows this holds
    # no copy of the rows but the one returned.
    code, keys = pd.factorize(np.asarray(episode), use_na_sentinel=False)
    episodes = len(keys)
    at = np.asarray(session, dtype=np.float64)
    scores = np.asarray(score, dtype=np.float64)
    kept = np.ones(len(code), dtype=np.bool_)
    completed_only = ending is not None
    not_completed = 0
    if ending is not None:
        ends = np.asarray(ending, dtype=object)
        # The episode's last row that gives an ending counts (docs/formats.md): rows with an
        # ending by episode and session, in row order where sessions tie.
        given = np.flatnonzero(pd.notna(ends))
        given = given[np.lexsort((at[given], code[given]))]
        last = given[np.r_[code[given][1:] != code[given][:-1], True]] if len(given) else given
        done = np.zeros(episodes, dtype=np.bool_)
        done[code[last]] = np.isin(ends[last].astype(str), list(COMPLETED))
        not_completed = int((~done).sum())
        kept &= done[code]
    kept &= np.isfinite(at) & np.isfinite(scores) & (at >= 1) & (at == np.round(at))
    code, sessions, scores = code[kept], at[kept].astype(np.int64), scores[kept]

    present = np.bincount(code, minlength=episodes) > 0
    ones = np.flatnonzero(sessions == 1)
    with_intake, first = np.unique(code[ones], return_index=True)
    intake = np.full(episodes, np.nan)
    intake[with_intake] = scores[ones[first]]
    has_intake = ~np.isnan(intake)
    no_intake = int((present & ~has_intake).sum())
    kept = has_intake[code]
    code, sessions, scores = code[kept], sessions[kept], scores[kept]
    counted = np.bincount(distinct_pairs(code, sessions)[0], minlength=episodes)
    sessions_per_episode = pd.Series(
        counted[has_intake], index=pd.Index(keys[has_intake], name="episode"), name="session"
    ).sort_index()
    later = sessions >= 2
    code, sessions = code[later], sessions[later]
    return TrainingData(
        rows=pd.DataFrame(
            {
                "episode": keys[code],
                "session": sessions,
                "log_session": np.log(sessions.astype(np.float64)),
                "intake": intake[code],
                "score": scores[later],
            },
            copy=False,  # the columns are new: pandas need not copy them into one block
        ),
        completed_only=completed_only,
        not_completed=not_completed,
        skipped_no_intake=no_intake,
        skipped_no_followup=int((sessions_per_episode < 2).sum()),
        sessions_per_episode=sessions_per_episode,
    )


def distinct_pairs(
    episode: npt.NDArray[np.integer[Any]], session: npt.NDArray[np.integer[Any]]
) -> tuple[npt.NDArray[np.integer[Any]], npt.NDArray[np.integer[Any]]]:
    """Each (episode code, session) pair once, by episode and session."""
    # The engine's rows come grouped by episode, sessions rising: then no sort is needed.
    next_episode = episode[1:] > episode[:-1]
    same_episode = episode[1:] == episode[:-1]
    if not np.all(next_episode | (same_episode & (session[1:] >= session[:-1]))):
        order = np.lexsort((session, episode))
        episode, session = episode[order], session[order]
    new = np.ones(len(episode), dtype=np.bool_)
    new[1:] = (episode[1:] != episode[:-1]) | (session[1:] != session[:-1])
    return episode[new], session[new]


def last_rows(episode: npt.ArrayLike, session: npt.ArrayLike) -> npt.NDArray[np.intp]:
    """The row of each episode's last session (the later row where two give it), episodes in
    sorted order."""
    import pandas as pd

    codes, keys = pd.factorize(np.asarray(episode), sort=True, use_na_sentinel=False)
    sessions = np.asarray(session, dtype=np.float64)
    last_session = np.full(len(keys), -np.inf)
    np.maximum.at(last_session, codes, sessions)
    at_last = np.flatnonzero(sessions == last_session[codes])
    row = np.full(len(keys), -1, dtype=np.intp)
    np.maximum.at(row, codes[at_last], at_last)
    return row


def _check_quantiles(quantiles: tuple[float, ...]) -> tuple[float, ...]:
    qs = tuple(float(q) for q in quantiles)
    if (
        list(qs) != sorted(set(qs))
        or not all(0 < q < 1 for q in qs)
        or 0.5 not in qs
        or qs[0] >= 0.5
        or qs[-1] <= 0.5
    ):
        raise ValueError(
            f"quantiles must be increasing, strictly between 0 and 1, and include 0.5 with at "
            f"least one below and one above it; got {quantiles}"
        )
    return qs


def _design(intake: Array, log_session: Array) -> Array:
    return np.column_stack([np.ones_like(intake), intake, log_session, intake * log_session])


def _corners(r: TrainingRange) -> tuple[Array, Array]:
    x = np.array([r.intake_min, r.intake_min, r.intake_max, r.intake_max])
    t = np.log(np.array([r.min_session, r.max_session, r.min_session, r.max_session], float))
    return x, t


def _crosses(curves: tuple[QuantileCurve, ...], r: TrainingRange) -> bool:
    # Each curve is bilinear in (intake, ln session), and so is the gap between two curves: its
    # minimum over the training rectangle lies at a corner, so checking the corners suffices.
    x, t = _corners(r)
    values = [np.asarray(c(x, t)) for c in curves]
    return any(bool(np.any(hi < lo)) for lo, hi in itertools.pairwise(values))


def _fit_quantile(y: Array, design: Array, q: float, weights: Array | None = None) -> Array:
    """Koenker–Bassett quantile regression, minimising sum w·rho_q(y - X b). With `weights`,
    each row stands for that many identical observations: rho_q is positively homogeneous
    (rho_q(w r) = w rho_q(r) for w > 0), so fitting (w y, w X) unweighted minimises the same sum
    as the rows repeated (Koenker 2005, Quantile Regression, §2.1 and §5.3)."""
    from statsmodels.regression.quantile_regression import QuantReg

    if weights is not None:
        y, design = weights * y, weights[:, None] * design
    with warnings.catch_warnings():
        # IRLS stops at max_iter with a usable estimate; the fit is checked for crossing after.
        warnings.simplefilter("ignore")
        result = QuantReg(y, design).fit(q=q, max_iter=5000, p_tol=1e-6)
    return np.asarray(result.params, dtype=np.float64)


@dataclass(frozen=True)
class CollapsedRows:
    """A measure's training rows counted once by (intake, ln session, score, session, fold), in
    that order, with what else the course and each fold of its cross-validation need to fit."""

    # Scores, intakes and sessions take few values: millions of sessions collapse to some
    # thousands of rows, so a fit's cost no longer grows with the data.

    train: TrainingData
    folds: int
    intake: Array
    log_session: Array
    score: Array
    session: npt.NDArray[np.int64]
    fold: npt.NDArray[np.int64]
    count: npt.NDArray[np.int64]
    row_fold: npt.NDArray[np.int64]
    """The fold of each training row."""
    at_session: npt.NDArray[np.int64]
    """Episodes with a score at each session (columns 0 to the last session), by fold."""
    episode_fold: npt.NDArray[np.int64]
    episode_first: npt.NDArray[np.int64]
    """The first session after session 1 of each training episode."""
    episode_sessions: npt.NDArray[np.int64]
    """Sessions of each training episode (`TrainingData.sessions_per_episode`)."""


def collapse(train: TrainingData, folds: int = 1) -> CollapsedRows:
    """`train`'s rows counted once, its episodes in `folds` interleaved folds (by their order in
    the data)."""
    import pandas as pd

    rows = train.rows
    episode, keys = pd.factorize(rows["episode"])
    row_fold = episode % folds
    session = rows["session"].to_numpy(np.int64)
    intake, score = rows["intake"].to_numpy(np.float64), rows["score"].to_numpy(np.float64)
    # One sortable code per (intake, session, score, fold), built a pair at a time so that it
    # never overflows: ln session orders as the session does. Hashing, where sorting whole rows
    # took 34 s at 10 M rows and a pandas group-by 1.2 s at 5 M.
    key = np.zeros(len(rows), dtype=np.int64)
    for column in (intake, session, score, row_fold):
        codes, uniques = pd.factorize(column, sort=True)
        key, _ = pd.factorize(key * len(uniques) + codes, sort=True)
    count = np.bincount(key)
    first = np.empty(len(count), dtype=np.int64)
    first[key] = np.arange(len(key))  # any row of a group: its rows agree on every column
    # Each (episode, session) pair once.
    pair_episode, pair_session = distinct_pairs(episode, session)
    width = int(session.max()) + 1 if len(session) else 1
    episode_fold = np.arange(len(keys), dtype=np.int64) % folds
    at_session = np.bincount(
        episode_fold[pair_episode] * width + pair_session, minlength=folds * width
    ).reshape(folds, width)
    # The first of an episode's pairs is its first session.
    starts = np.ones(len(pair_episode), dtype=np.bool_)
    starts[1:] = pair_episode[1:] != pair_episode[:-1]
    first_session = np.full(len(keys), np.iinfo(np.int64).max, dtype=np.int64)
    first_session[pair_episode[starts]] = pair_session[starts]
    sessions = train.sessions_per_episode.reindex(keys).to_numpy(np.int64)
    return CollapsedRows(
        train=train,
        folds=folds,
        intake=intake[first],
        log_session=rows["log_session"].to_numpy(np.float64)[first],
        score=score[first],
        session=session[first],
        fold=np.asarray(row_fold[first], dtype=np.int64),
        count=count.astype(np.int64),
        row_fold=np.asarray(row_fold, dtype=np.int64),
        at_session=at_session,
        episode_fold=episode_fold,
        episode_first=first_session,
        episode_sessions=sessions,
    )


def fit_etr(
    data: pd.DataFrame | TrainingData | CollapsedRows,
    *,
    measure_id: str,
    measure_version: str,
    direction: Direction,
    quantiles: tuple[float, ...] = DEFAULT_QUANTILES,
    min_episodes: int = MIN_EPISODES,
    min_sessions: int = MIN_SESSIONS,
    min_at_session: int = MIN_AT_SESSION,
    fitted: str | None = None,
    without_fold: int | None = None,
) -> EtrModel:
    """Quantile regression score ~ intake·ln(session), one fit per quantile, without crossing.

    The training range ends at the last session at which `min_at_session` episodes have a score.
    `without_fold` leaves out the episodes of that fold of rows collapsed into folds
    (`collapse`), as the band's cross-validation does.
    """
    if isinstance(data, CollapsedRows):
        rows = data
    else:
        rows = collapse(data if isinstance(data, TrainingData) else training_data(data, measure_id))
    if without_fold is not None and not 0 <= without_fold < rows.folds:
        raise ValueError(f"fold {without_fold} is not one of the {rows.folds} folds of the rows")
    qs = _check_quantiles(quantiles)
    train = rows.train
    if without_fold is None:
        found = int((train.sessions_per_episode >= min_sessions).sum())
        kept_episodes = np.ones(len(rows.episode_fold), dtype=np.bool_)
        kept = np.ones(len(rows.count), dtype=np.bool_)
        per_session = rows.at_session.sum(axis=0)
    else:
        kept_episodes = rows.episode_fold != without_fold
        found = int((rows.episode_sessions[kept_episodes] >= min_sessions).sum())
        kept = rows.fold != without_fold
        per_session = rows.at_session.sum(axis=0) - rows.at_session[without_fold]
    if found < min_episodes:
        detail = (
            f" Also left out: {train.skipped_no_intake} episodes without a session-1 score"
            + (f", {train.not_completed} not completed" if train.completed_only else "")
            + "."
        )
        raise TooLittleDataError(
            found, min_episodes, min_sessions, detail, completed=train.completed_only
        )
    scored = np.flatnonzero(per_session > 0)
    dense = scored[per_session[scored] >= min_at_session]
    max_session = int(dense.max()) if len(dense) else int(scored.max())
    max_session = max(max_session, 3)  # ln-session curves need at least two session values
    inside = kept & (rows.session <= max_session)
    x, t, y = rows.intake[inside], rows.log_session[inside], rows.score[inside]
    count = rows.count[inside]
    r = TrainingRange(
        intake_min=float(x.min()),
        intake_max=float(x.max()),
        min_session=2,
        max_session=max_session,
    )
    # The counts of the kept folds summed by (intake, ln session, score), in that order.
    starts = np.flatnonzero(
        np.concatenate(([True], (x[1:] != x[:-1]) | (t[1:] != t[:-1]) | (y[1:] != y[:-1])))
    )
    cx, ct, cy = x[starts], t[starts], y[starts]
    counts = np.add.reduceat(count, starts)
    design = _design(cx, ct)
    weights = counts.astype(np.float64)
    curves = tuple(QuantileCurve(q, *map(float, _fit_quantile(cy, design, q, weights))) for q in qs)
    band_method = "quantile regression"
    if _crosses(curves, r):
        # Fall back to parallel curves: the median plus quantiles of its residuals, which are
        # ordered by construction (a location-shift model; Koenker 2005, Quantile Regression).
        median = curves[qs.index(0.5)]
        residuals = np.repeat(cy - np.asarray(median(cx, ct)), counts)
        shifts = np.quantile(residuals, qs)
        shifts[qs.index(0.5)] = 0.0
        curves = tuple(
            replace(median, quantile=q, intercept=median.intercept + float(s))
            for q, s in zip(qs, shifts, strict=True)
        )
        band_method = "location shift"
    sessions = int(counts.sum())
    summary = TrainingSummary(
        episodes=int((kept_episodes & (rows.episode_first <= max_session)).sum()),
        sessions=sessions,
        completed_only=train.completed_only,
        not_completed=train.not_completed,
        skipped_no_intake=train.skipped_no_intake,
        skipped_no_followup=train.skipped_no_followup,
        beyond_range=int(rows.count[kept].sum()) - sessions,
        fitted=fitted or dt.date.today().isoformat(),
    )
    return EtrModel(
        measure_id=measure_id,
        measure_version=measure_version,
        direction=direction,
        curves=curves,
        range=r,
        summary=summary,
        band_method=band_method,
        ally_version=_ally_version(),
    )


def _ally_version() -> str:
    try:
        return metadata.version("ally")
    except metadata.PackageNotFoundError:
        return "unknown"


def with_alert_budget(
    model: EtrModel,
    train: TrainingData,
    *,
    cap: float,
    level: BudgetLevel = BudgetLevel.RED,
    cutoff: float | None,
    reliable_change: float,
    cutoff_is_clinical: bool = True,
) -> EtrModel:
    """The model with signal thresholds calibrated so that at most `cap` of the training
    episodes are ever flagged (`calibrate_budget`), sessions beyond the range included."""
    from ally.feedback.signals import calibrate_budget

    rows = train.rows
    expected, low, high = predict_band(model, rows["intake"], rows["session"])
    budget = calibrate_budget(
        rows["episode"].to_numpy(),
        rows["session"],
        rows["score"],
        rows["intake"],
        expected,
        low,
        high,
        cutoff=cutoff,
        reliable_change=reliable_change,
        sign=model.direction.sign,
        cap=cap,
        level=level,
        thresholds=model.thresholds,
        cutoff_is_clinical=cutoff_is_clinical,
    )
    return replace(model, thresholds=budget.thresholds, budget=budget)


def cross_validated_band(
    train: TrainingData | CollapsedRows,
    folds: int,
    rows: npt.NDArray[np.intp] | None = None,
    threads: int = 1,
    **fit: Any,
) -> tuple[Array, Array, Array] | None:
    """Each training row's expected score and band from a model fitted without its episode:
    episodes in `folds` interleaved folds (by their order in the data), each predicted by the
    model of the others (`fit_etr` with `fit`'s arguments). `rows`: only these training rows
    are predicted, in this order. `threads`: folds fitted at once. None when a fold's model
    cannot be fitted (too little data)."""
    if folds < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, not {folds}")
    if isinstance(train, CollapsedRows) and train.folds == folds:
        collapsed = train
    else:
        collapsed = collapse(train.train if isinstance(train, CollapsedRows) else train, folds)
    table = collapsed.train.rows
    at = slice(None) if rows is None else rows
    intake, session = table["intake"].to_numpy()[at], table["session"].to_numpy()[at]
    row_fold = collapsed.row_fold[at]
    expected, low, high = (np.full(len(intake), np.nan) for _ in range(3))
    # The folds' quantile regressions are numpy's work, which lets go of Python's lock: two
    # threads fitted the 10 M-row benchmark's folds in 3.1 s instead of 4.5 s, with the same
    # models (docs/benchmarks.md). Python's warning filters are one for all threads, and each
    # fit sets and restores them (`_fit_quantile`): set once around all, they are whole again
    # after.
    with warnings.catch_warnings(), ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        warnings.simplefilter("ignore")
        fitted = [pool.submit(fit_etr, collapsed, without_fold=k, **fit) for k in range(folds)]
        try:
            models = [f.result() for f in fitted]
        except TooLittleDataError:
            pool.shutdown(cancel_futures=True)  # the other folds would be of no use
            return None
    for k, model in enumerate(models):
        held = row_fold == k
        e, lo, hi = predict_band(model, intake[held], session[held])
        expected[held], low[held], high[held] = e, lo, hi
    return expected, low, high
