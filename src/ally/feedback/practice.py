"""The practice model: what a practice learns from its own history, fitted once, applied anywhere.

In scikit-learn's shape: `ally.feedback.fit.fit_practice` estimates it from scored
administrations; `ally.feedback.results.results` applies it to any number of episodes, one in
the web app after an answer or millions in the batch engine, and estimates nothing. It is saved
as plain, versioned JSON (docs/feedback.md, "The practice model").

Per measure it holds what the measure file says (direction, range, bands, published cut-off and
reliable change) and what the practice's data give (reliable-change sample statistics, Cronbach's
alpha, the Jacobson & Truax cut-off, criterion 1 of sudden gains, the expected course and its
alert budget, an alliance measure's subscale rupture thresholds); for the practice, the rupture
rules and the dropout model.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ally.change.cutoffs import Population
from ally.change.reliable import (
    ChangeRule,
    Method,
    PublishedChange,
    ReliableChange,
    SampleStats,
    reliable_change_value,
)
from ally.feedback.alliance import (
    STRAUSS_2006,
    Reference,
    RuleKind,
    RuptureConfig,
    RuptureRule,
)
from ally.feedback.dropout import DropoutModel, DropoutModelError
from ally.feedback.etr import EtrModel, EtrModelError, RationalEtr
from ally.feedback.signals import ScaleChoice, SignalThresholds, SignalTuning
from ally.measures.schema import Direction, Kind, Measure
from ally.scoring.rules import band_thresholds, score_range

FORMAT = "ally-practice-model"
FORMAT_VERSION = 2
"""2 (issue 12): an outcome measure's signal tuning and the practice's signal backtest. Files of
version 1 still load: they have neither, and their signals keep the thresholds stored in them
(the defaults of that time) until the model is fitted again."""
READS = (1, 2)

OUTCOME = Kind.OUTCOME.value
ALLIANCE = Kind.ALLIANCE.value
RATERS = ("client", "clinician")


class PracticeModelError(Exception):
    """A practice model file that cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class SuddenGain:
    """Criterion 1 of a sudden gain or loss (Tang & DeRubeis 1999, JCCP 67:894) for one measure
    and rater: a change of at least `cutoff` points from one session to the next."""

    cutoff: float
    source: str
    """Where the cut-off comes from, in words (given, published, or z·SD·√(2(1 − r)))."""


def legacy_sudden_gain(rule: ChangeRule | None) -> SuddenGain | None:
    """The criterion of a model file written before the criterion was stored: the reliable
    change value in points at z = qnorm(.975), as those versions of Ally computed it."""
    if isinstance(rule, PublishedChange):
        return SuddenGain(rule.points, f"the reliable change of {rule.points:g} points")
    if rule is None:
        return None
    points = reliable_change_value(rule.stats.sd_pre, rule.reliability)
    return SuddenGain(points, f"the reliable change value {points:.2f} points")


@dataclass(frozen=True)
class ChangeModel:
    """Reliable and clinically significant change of one measure as rated by one rater."""

    reliable_change: ChangeRule | None
    cutoff: float | None
    cutoff_is_clinical: bool | None
    """True: a score equal to the cut-off is clinical (published caseness thresholds); None:
    neither clinical nor functional, as clinicalsignificance treats a sample cut-off."""
    source: str
    """Where the numbers come from, in words for the people who read them."""
    sudden_gain: SuddenGain | None = None
    """Criterion 1 of sudden gains and losses; None: they are not looked for."""

    @property
    def sudden_gain_criterion(self) -> float | None:
        """Criterion 1 of Tang & DeRubeis (1999): the smallest sudden gain or loss in points."""
        return self.sudden_gain.cutoff if self.sudden_gain is not None else None


@dataclass(frozen=True)
class SubscaleDrop:
    """A fall in one subscale of an alliance measure that begins a rupture by itself, as the
    total's own rule does: more than the subscale's reliable change value z·SD·√(2(1 − α))
    (Jacobson & Truax 1991) below its last rated score."""

    subscale: str
    points: float
    """z·SD·√(2(1 − α)); a fall must be larger (strictly, as in reliable change)."""
    sd: float
    """SD of the subscale at the first rated session of the practice's episodes (n − 1)."""
    reliability: float
    """Cronbach's alpha of the subscale's items in the practice's complete answers."""
    z: float
    source: str

    def rule(self) -> RuptureRule:
        return RuptureRule(RuleKind.RELIABLE, self.points, scale=self.subscale, inclusive=False)


@dataclass(frozen=True)
class OutcomeModel:
    """How the signals of an outcome measure are computed: its expected course and thresholds."""

    expected: EtrModel | RationalEtr
    thresholds: SignalThresholds
    reliable_change: float
    """Points of change that count as reliable, for the "reliably worse" red rule."""
    cutoff: float | None
    cutoff_is_clinical: bool
    tuning: SignalTuning | None = None
    """How the course and the yellow threshold were chosen on the training episodes; None when
    they were not (too few deteriorators, or a model file of version 1)."""

    @property
    def source(self) -> str:
        t = self.tuning
        rule = ""
        if t is not None:
            order = "white first" if t.chosen.functional_first else "the band before white"
            others = t.chosen.episodes - t.chosen.deteriorators
            rule = (
                f", yellow beyond {t.chosen.yellow_scale:g} of the band, {order}: the rule that "
                f"caught the most of {t.chosen.deteriorators} training episodes that ended "
                f"reliably worse by session {t.by_session} ({t.chosen.sensitivity:.0%}) while "
                f"flagging {t.chosen.others_flagged:.0%} of {others:,} others"
            )
        if isinstance(self.expected, EtrModel):
            return f"expected course fitted on {self.expected.summary.episodes:,} episodes{rule}"
        if t is not None:
            return f"rational expected course{rule}"
        return "rational expected course (too little history for a fitted one)"


@dataclass(frozen=True)
class MeasureModel:
    """What the practice model knows of one measure."""

    id: str
    version: str
    kind: str
    sign: int
    """+1 when higher scores are better, -1 when lower are."""
    minimum: float | None
    maximum: float | None
    bands: tuple[tuple[float, str], ...]
    """(lower bound, label) from the highest band down, as `rules.band_thresholds` gives them."""
    subscales: tuple[str, ...]
    raters: Mapping[str, ChangeModel] = field(default_factory=dict)
    outcome: OutcomeModel | None = None
    notes: tuple[str, ...] = ()
    low_alliance: float | None = None
    """An alliance measure's client rating at or below which the alliance counts as low: its
    published cut-off (SRS 36), else the practice's own low ratings (`fit.LOW_ALLIANCE_SHARE`);
    None until there are enough of them."""
    low_alliance_source: str = ""
    subscale_drops: tuple[SubscaleDrop, ...] = ()
    """An alliance measure's subscale falls that begin a rupture in the client's ratings, as a
    fall of the total does (the practice's `ruptures`); none until they are estimated."""

    def change(self, rater: str) -> ChangeModel | None:
        return self.raters.get(rater)


@dataclass(frozen=True)
class Training:
    """What the model was fitted on."""

    episodes: int
    administrations: int
    first_date: str | None
    last_date: str | None
    fitted_at: str
    ally_version: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class MeasureBacktest:
    """How one outcome measure's signals did on the later half of the practice's own completed
    episodes, with the model of the earlier half: flagged yellow or red by `by_session`."""

    measure: str
    episodes: int
    """Completed later episodes with at least two scores of the measure."""
    deteriorators: int
    """Of those, the episodes that ended reliably worse than they began."""
    sensitivity: float | None
    """Share of the deteriorators flagged; None when there are too few to say."""
    others_flagged: float | None
    """Share of the other episodes flagged (false alarms); None when there are too few."""


@dataclass(frozen=True)
class SignalBacktest:
    """The practice's own backtest of its signals, made when the model is fitted: the earlier
    `split` of its completed episodes (by start) fit a model, the later ones test it."""

    split: float
    by_session: int
    train_episodes: int
    test_episodes: int
    train_period: tuple[str | None, str | None]
    test_period: tuple[str | None, str | None]
    min_deteriorators: int
    """Fewer deteriorators than this in the later episodes: no figures, "too few"."""
    measures: tuple[MeasureBacktest, ...] = ()
    note: str = ""
    """Why there are no figures at all, when there are none."""


@dataclass(frozen=True)
class PracticeModel:
    """Everything a practice estimates from its history, for every measure it uses."""

    measures: Mapping[str, MeasureModel]
    training: Training
    ruptures: RuptureConfig = STRAUSS_2006
    dropout: DropoutModel | None = None
    pre: int | None = None
    """Compare this session's score with the last (default: each series' first session)."""
    post: int | None = None
    """Compare the first with this session's score (default: each series' latest session)."""
    signal_backtest: SignalBacktest | None = None
    """The practice's own backtest of its signals; None when not made (version 1 files)."""

    def measure(self, measure_id: str) -> MeasureModel:
        try:
            return self.measures[measure_id]
        except KeyError:
            raise PracticeModelError(
                f"the practice model has no measure {measure_id!r}; it has "
                f"{', '.join(sorted(self.measures)) or 'none'}. Fit it again on data that "
                "include the measure (`ally fit`)."
            ) from None

    def with_measures(self, more: Iterable[MeasureModel]) -> PracticeModel:
        """The model plus measures it does not know yet (e.g. added to a practice's plans since
        it was fitted); those it knows stay as fitted."""
        extra = {m.id: m for m in more if m.id not in self.measures}
        return replace(self, measures={**self.measures, **extra}) if extra else self

    def with_rational_courses(self) -> PracticeModel:
        """The model with every expected course replaced by the rational one with the default
        thresholds, untuned, for comparison (the backtest)."""
        measures = {}
        for key, m in self.measures.items():
            o = m.outcome
            if o is not None:
                rational = RationalEtr(reliable_change=o.reliable_change, sign=m.sign)
                o = replace(o, expected=rational, thresholds=SignalThresholds(), tuning=None)
            measures[key] = replace(m, outcome=o)
        return replace(self, measures=measures)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "training": asdict(self.training),
            "pre": self.pre,
            "post": self.post,
            "ruptures": _ruptures_data(self.ruptures),
            "measures": {k: _measure_data(m) for k, m in sorted(self.measures.items())},
            "dropout": json.loads(self.dropout.to_json()) if self.dropout else None,
            "signal_backtest": _backtest_data(self.signal_backtest),
        }

    @classmethod
    def from_json(cls, text: str, origin: str = "the practice model") -> PracticeModel:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PracticeModelError(f"{origin}: not JSON ({exc}). {REFIT}") from exc
        return cls.from_dict(data, origin)

    @classmethod
    def from_dict(cls, data: Any, origin: str = "the practice model") -> PracticeModel:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise PracticeModelError(f"{origin}: not an Ally practice model. {REFIT}")
        if data.get("format_version") not in READS:
            raise PracticeModelError(
                f"{origin}: format version {data.get('format_version')}, but this Ally reads "
                f"versions {' and '.join(map(str, READS))}. {REFIT}"
            )
        try:
            dropout = None
            if data.get("dropout") is not None:
                dropout = DropoutModel.from_json(json.dumps(data["dropout"]), origin)
            return cls(
                measures={k: _measure_from(v, k) for k, v in data["measures"].items()},
                training=Training(
                    **{**data["training"], "notes": tuple(data["training"].get("notes", ()))}
                ),
                ruptures=_ruptures_from(data["ruptures"]),
                dropout=dropout,
                pre=data.get("pre"),
                post=data.get("post"),
                signal_backtest=_backtest_from(data.get("signal_backtest")),
            )
        except (DropoutModelError, EtrModelError) as exc:
            raise PracticeModelError(str(exc)) from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise PracticeModelError(
                f"{origin}: incomplete or damaged model ({exc!r}). {REFIT}"
            ) from exc


REFIT = "Fit it again with `ally fit`."


# --- What a measure file says, before any data -------------------------------------------


@dataclass(frozen=True)
class MeasureParams:
    """How one measure is analysed before the practice's data are seen: from its definition,
    overridden where the user says otherwise (`ally analyze` options)."""

    id: str
    sign: int
    reliability: float | None
    functional: Population | None
    cutoff: float | None
    """The clinical cut-off given in advance (published or by the user), if any."""
    cutoff_inclusive: bool
    """Whether a score equal to the cut-off counts as clinical (published caseness thresholds)."""
    minimum: float | None
    maximum: float | None
    measure: Measure | None
    method: Method = Method.JT
    reliability_post: float | None = None
    version: str = ""

    @property
    def kind(self) -> str:
        # A measure given only on the command line is analysed as an outcome.
        return self.measure.kind.value if self.measure else OUTCOME

    @property
    def published_change(self) -> float | None:
        rc = self.measure.reliable_change if self.measure else None
        return rc.value if rc is not None else None

    def measure_model(self, **fitted: Any) -> MeasureModel:
        """The measure's entry in a practice model, with what was `fitted` for it."""
        m = self.measure
        return MeasureModel(
            id=self.id,
            version=m.version if m else self.version,
            kind=self.kind,
            sign=self.sign,
            minimum=self.minimum,
            maximum=self.maximum,
            bands=tuple(band_thresholds(m.bands)) if m else (),
            subscales=tuple(s.id for s in m.scoring.subscales) if m else (),
            **fitted,
        )


def params_of(
    measure: Measure | None,
    *,
    measure_id: str | None = None,
    direction: Direction | None = None,
    reliability: float | None = None,
    reliability_post: float | None = None,
    functional: Population | None = None,
    cutoff: float | None = None,
    method: Method = Method.JT,
) -> MeasureParams:
    """A measure as its file defines it, with the values a user gives instead (`ally analyze`
    options); a measure without a file needs `measure_id`, a direction and a reliability."""
    name = measure_id or (measure.id if measure else "")
    direction = direction or (measure.direction if measure else None)
    if direction is None:
        raise ValueError(f"measure {name!r} needs a direction")
    if reliability is None and measure is not None and measure.reliability is not None:
        reliability = measure.reliability.value
    published = measure.clinical_cutoff if measure is not None else None
    file_functional = None
    if measure is not None and measure.norms.functional is not None:
        file_functional = Population(measure.norms.functional.mean, measure.norms.functional.sd)
    # The most specific wins: an explicit cut-off, then norms given for this run, then the
    # measure's published cut-off, then the measure's norms (Jacobson & Truax cut-off c).
    inclusive = False
    if cutoff is None and functional is None:
        if published is not None:
            cutoff, inclusive = published, True
        else:
            functional = file_functional
    minimum = maximum = None
    if measure is not None:
        minimum, maximum = score_range(measure)
    return MeasureParams(
        id=name,
        sign=direction.sign,
        reliability=reliability,
        functional=functional if cutoff is None else None,
        cutoff=cutoff,
        cutoff_inclusive=inclusive,
        minimum=minimum,
        maximum=maximum,
        measure=measure,
        method=method,
        reliability_post=reliability_post,
        version=measure.version if measure is not None else "",
    )


# --- JSON ------------------------------------------------------------------------------------


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def _change_rule_data(rc: ChangeRule | None) -> dict[str, Any] | None:
    if rc is None:
        return None
    if isinstance(rc, PublishedChange):
        return {"method": "published", "points": rc.points, "z": rc.z}
    return {
        "method": rc.method.value,
        "stats": asdict(rc.stats),
        "reliability": rc.reliability,
        "reliability_post": rc.reliability_post,
        "significance_level": rc.significance_level,
    }


def _change_rule_from(data: dict[str, Any] | None) -> ChangeRule | None:
    if data is None:
        return None
    if data["method"] == "published":
        return PublishedChange(float(data["points"]), float(data["z"]))
    return ReliableChange(
        method=Method(data["method"]),
        stats=SampleStats(**data["stats"]),
        reliability=float(data["reliability"]),
        reliability_post=float(data["reliability_post"]),
        significance_level=float(data["significance_level"]),
    )


def _outcome_data(o: OutcomeModel | None) -> dict[str, Any] | None:
    if o is None:
        return None
    expected: dict[str, Any]
    if isinstance(o.expected, EtrModel):
        expected = {"kind": "fitted", "model": json.loads(o.expected.to_json())}
    else:
        expected = {"kind": "rational", **asdict(o.expected)}
    return {
        "expected": expected,
        "thresholds": asdict(o.thresholds),
        "reliable_change": o.reliable_change,
        "cutoff": o.cutoff,
        "cutoff_is_clinical": o.cutoff_is_clinical,
        "tuning": asdict(o.tuning) if o.tuning is not None else None,
    }


def _tuning_from(data: dict[str, Any] | None) -> SignalTuning | None:
    if data is None:
        return None
    return SignalTuning(
        chosen=ScaleChoice(**data["chosen"]),
        candidates=tuple(ScaleChoice(**c) for c in data["candidates"]),
        by_session=int(data["by_session"]),
        max_others_flagged=float(data["max_others_flagged"]),
        target_sensitivity=float(data["target_sensitivity"]),
        method=str(data["method"]),
    )


def _backtest_data(b: SignalBacktest | None) -> dict[str, Any] | None:
    return asdict(b) if b is not None else None


def _backtest_from(data: dict[str, Any] | None) -> SignalBacktest | None:
    if data is None:
        return None
    return SignalBacktest(
        split=float(data["split"]),
        by_session=int(data["by_session"]),
        train_episodes=int(data["train_episodes"]),
        test_episodes=int(data["test_episodes"]),
        train_period=tuple(data["train_period"]),
        test_period=tuple(data["test_period"]),
        min_deteriorators=int(data["min_deteriorators"]),
        measures=tuple(MeasureBacktest(**m) for m in data["measures"]),
        note=str(data.get("note", "")),
    )


def _outcome_from(data: dict[str, Any] | None) -> OutcomeModel | None:
    if data is None:
        return None
    given = dict(data["expected"])
    expected: EtrModel | RationalEtr
    if given.pop("kind") == "fitted":
        expected = EtrModel.from_json(json.dumps(given["model"]))
    else:
        expected = RationalEtr(**given)
    return OutcomeModel(
        expected=expected,
        thresholds=SignalThresholds(**data["thresholds"]),
        reliable_change=float(data["reliable_change"]),
        cutoff=data["cutoff"],
        cutoff_is_clinical=bool(data["cutoff_is_clinical"]),
        # Version 1 files were not tuned: their thresholds stand as stored.
        tuning=_tuning_from(data.get("tuning")),
    )


def _measure_data(m: MeasureModel) -> dict[str, Any]:
    return {
        "version": m.version,
        "kind": m.kind,
        "sign": m.sign,
        "minimum": _finite(m.minimum),
        "maximum": _finite(m.maximum),
        "bands": [[low, label] for low, label in m.bands],
        "subscales": list(m.subscales),
        "raters": {
            rater: {
                "reliable_change": _change_rule_data(c.reliable_change),
                "cutoff": c.cutoff,
                "cutoff_is_clinical": c.cutoff_is_clinical,
                "source": c.source,
                "sudden_gains": asdict(c.sudden_gain) if c.sudden_gain is not None else None,
            }
            for rater, c in sorted(m.raters.items())
        },
        "outcome": _outcome_data(m.outcome),
        "notes": list(m.notes),
        "low_alliance": m.low_alliance,
        "low_alliance_source": m.low_alliance_source,
        "subscale_drops": [asdict(d) for d in m.subscale_drops],
    }


def _change_from(data: dict[str, Any]) -> ChangeModel:
    rule = _change_rule_from(data["reliable_change"])
    # Files written before the criterion was stored derived it from the reliable change.
    if "sudden_gains" not in data:
        sudden_gain = legacy_sudden_gain(rule)
    elif data["sudden_gains"] is None:
        sudden_gain = None
    else:
        given = data["sudden_gains"]
        sudden_gain = SuddenGain(float(given["cutoff"]), str(given["source"]))
    return ChangeModel(
        reliable_change=rule,
        cutoff=data["cutoff"],
        cutoff_is_clinical=data["cutoff_is_clinical"],
        source=str(data["source"]),
        sudden_gain=sudden_gain,
    )


def _subscale_drop_from(data: dict[str, Any]) -> SubscaleDrop:
    return SubscaleDrop(
        subscale=str(data["subscale"]),
        points=float(data["points"]),
        sd=float(data["sd"]),
        reliability=float(data["reliability"]),
        z=float(data["z"]),
        source=str(data["source"]),
    )


def _measure_from(data: dict[str, Any], measure_id: str | None = None) -> MeasureModel:
    return MeasureModel(
        id=measure_id or "",
        version=str(data["version"]),
        kind=str(data["kind"]),
        sign=int(data["sign"]),
        minimum=data["minimum"],
        maximum=data["maximum"],
        bands=tuple((float(low), str(label)) for low, label in data["bands"]),
        subscales=tuple(data["subscales"]),
        raters={rater: _change_from(c) for rater, c in data["raters"].items()},
        outcome=_outcome_from(data["outcome"]),
        notes=tuple(data.get("notes", ())),
        low_alliance=data.get("low_alliance"),
        low_alliance_source=str(data.get("low_alliance_source", "")),
        # Files written before subscale ruptures have none: the total alone, as then.
        subscale_drops=tuple(_subscale_drop_from(d) for d in data.get("subscale_drops", ())),
    )


def _rule_data(rule: RuptureRule) -> dict[str, Any]:
    return {**asdict(rule), "kind": rule.kind.value, "reference": rule.reference.value}


def _rule_from(data: dict[str, Any]) -> RuptureRule:
    return RuptureRule(
        **{**data, "kind": RuleKind(data["kind"]), "reference": Reference(data["reference"])}
    )


def _ruptures_data(config: RuptureConfig) -> dict[str, Any]:
    data: dict[str, Any] = {
        "rules": [_rule_data(rule) for rule in config.rules],
        "combine": config.combine,
        "repair_tolerance": config.repair_tolerance,
        "repair_within": config.repair_within,
    }
    if config.on_their_own:
        data["on_their_own"] = [_rule_data(rule) for rule in config.on_their_own]
    return data


def _ruptures_from(data: dict[str, Any]) -> RuptureConfig:
    return RuptureConfig(
        rules=tuple(_rule_from(r) for r in data["rules"]),
        combine=data["combine"],
        repair_tolerance=float(data["repair_tolerance"]),
        repair_within=int(data["repair_within"]),
        on_their_own=tuple(_rule_from(r) for r in data.get("on_their_own", ())),
    )
