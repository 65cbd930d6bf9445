"""Does a better alliance this session predict less distress next session, within a client?

Each session's alliance score is paired with the outcome score of the next session (s + 1) of
the same episode. The alliance is split into a within-person part (the session's score minus
the client's mean over the paired sessions) and a between-person part (the client's mean minus
the grand mean of client means), so that the two effects are not blended (Curran & Bauer 2011,
Annu Rev Psychol 62:583-619; Falkenström, Finkel, Sandell, Rubel & Holmqvist 2017, J Consult
Clin Psychol 85:537-549). The model is a linear mixed model with a random intercept per client
and, when asked, per clinician with clients nested in clinicians (lme4's `(1 | clinician/client)`).

Therapist effects are the intraclass correlation of clinicians in the null model of the same
rows, next outcome ~ 1 + (1 | clinician/client): the clinicians' share of the outcome's variance
(Baldwin & Imel 2013, in Lambert (ed.), Bergin and Garfield's Handbook, 6th ed., 258-297). Its
interval comes from a parametric bootstrap of that model (percentile interval).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ally.research.mixed import FixedEffect, MixedFit, MixedModelError, fit_mixed

if TYPE_CHECKING:
    import pandas as pd

KEYS = ["client", "episode", "session"]
COLUMNS = ["client", "episode", "clinician", "session", "score"]
WITHIN = "alliance_within"
BETWEEN = "alliance_between"
CURRENT = "outcome_now"
NEXT = "outcome_next"
MIN_CLINICIANS = 30
"""Below this many clinicians the clinicians' variance, and so the ICC, is poorly estimated
(see the sample-size tables of Schiefele et al. 2017, Adm Policy Ment Health 44:598-613)."""
BOOTSTRAP = 200
"""Parametric bootstrap samples of the therapist-effect interval."""


class AllianceOutcomeError(MixedModelError):
    """The data hold too little for the analysis; the message says what is missing."""


@dataclass(frozen=True)
class TherapistEffect:
    """The clinicians' share of the next outcome's variance (null model, same rows)."""

    icc: float
    ci_low: float
    ci_high: float
    clinicians: int
    clinician_variance: float
    client_variance: float
    residual_variance: float
    samples: int
    """Bootstrap samples that fitted (of those drawn)."""
    drawn: int
    level: float
    method: str = "parametric bootstrap, percentile interval"


@dataclass(frozen=True)
class AllianceOutcome:
    fit: MixedFit
    pairs: int
    clients: int
    episodes: int
    clinicians: int
    control_current_outcome: bool
    clinician_effects: bool
    therapist: TherapistEffect | None
    notes: tuple[str, ...] = field(default=())

    @property
    def within(self) -> FixedEffect:
        return self.fit.effect(WITHIN)

    @property
    def between(self) -> FixedEffect:
        return self.fit.effect(BETWEEN)

    @property
    def structure(self) -> str:
        if self.clinician_effects:
            return "random intercepts of clinicians and of clients nested in clinicians"
        return "random intercept per client"

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "pairs": self.pairs,
            "clients": self.clients,
            "episodes": self.episodes,
            "clinicians": self.clinicians,
            "random_effects": self.structure,
            "control_current_outcome": self.control_current_outcome,
            "within_person": _effect(self.within),
            "between_person": _effect(self.between),
            "model": self.fit.to_dict(),
            "notes": list(self.notes),
        }
        if self.therapist is not None:
            t = self.therapist
            found["therapist_effect"] = {
                "icc": t.icc,
                "ci_low": t.ci_low,
                "ci_high": t.ci_high,
                "ci_level": t.level,
                "ci_method": t.method,
                "bootstrap_samples": t.samples,
                "bootstrap_drawn": t.drawn,
                "clinicians": t.clinicians,
                "clinician_variance": t.clinician_variance,
                "client_variance": t.client_variance,
                "residual_variance": t.residual_variance,
            }
        return found


def _effect(fe: FixedEffect) -> dict[str, float]:
    return {
        "estimate": fe.estimate,
        "se": fe.se,
        "z": fe.z,
        "p": fe.p,
        "ci_low": fe.ci_low,
        "ci_high": fe.ci_high,
    }


def _one_per_session(rows: pd.DataFrame, what: str, notes: list[str]) -> pd.DataFrame:
    """One score per client, episode and session: repeated administrations are averaged."""
    missing = [c for c in COLUMNS if c not in rows.columns]
    if missing:
        raise AllianceOutcomeError(f"the {what} scores lack the column(s) {', '.join(missing)}")
    rows = rows.dropna(subset=["client", "episode", "session", "score"])
    grouped = rows.groupby(KEYS, sort=False, dropna=False)
    repeated = int((grouped.size() > 1).sum())
    if repeated:
        notes.append(f"{repeated} session(s) had more than one {what} score; their mean is used")
    return grouped.agg(clinician=("clinician", "last"), score=("score", "mean")).reset_index()


def next_session_pairs(
    alliance: pd.DataFrame, outcome: pd.DataFrame, control_current_outcome: bool = False
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Each session's alliance with the outcome of session s + 1 of the same episode, centred.

    Both tables have columns client, episode, clinician, session, score. Returns the pairs with
    alliance, alliance_within, alliance_between, outcome_next (and outcome_now), and notes.
    """
    notes: list[str] = []
    a = _one_per_session(alliance, "alliance", notes)
    o = _one_per_session(outcome, "outcome", notes)
    nxt = o[[*KEYS, "score"]].rename(columns={"score": NEXT})
    nxt["session"] = nxt["session"] - 1
    pairs = a.rename(columns={"score": "alliance"}).merge(nxt, on=KEYS, how="inner")
    if control_current_outcome:
        now = o[[*KEYS, "score"]].rename(columns={"score": CURRENT})
        pairs = pairs.merge(now, on=KEYS, how="inner")
    if pairs["clinician"].isna().any():
        pairs["clinician"] = pairs["clinician"].astype(object).where(pairs["clinician"].notna(), "")
    # The person mean is taken over the rows that enter the model, so the within part sums to 0
    # for each client and is uncorrelated with the between part.
    person_mean = pairs.groupby("client")["alliance"].transform("mean")
    grand_mean = pairs.groupby("client")["alliance"].mean().mean()
    pairs["person_mean"] = person_mean
    pairs[WITHIN] = pairs["alliance"] - person_mean
    pairs[BETWEEN] = person_mean - grand_mean
    return pairs.sort_values(KEYS, kind="stable").reset_index(drop=True), tuple(notes)


def alliance_outcome(
    alliance: pd.DataFrame,
    outcome: pd.DataFrame,
    clinician_effects: bool = False,
    control_current_outcome: bool = False,
    bootstrap: int = BOOTSTRAP,
    seed: int = 1,
    level: float = 0.95,
) -> AllianceOutcome:
    """The within- and between-person effects of the alliance on the next session's outcome."""
    pairs, given_notes = next_session_pairs(alliance, outcome, control_current_outcome)
    notes = list(given_notes)
    clients = pairs["client"].nunique()
    if len(pairs) == 0 or clients < 2:
        raise AllianceOutcomeError(
            f"{len(pairs)} session(s) have an alliance score and an outcome score at the next "
            f"session, from {clients} client(s); the analysis needs several clients with "
            "alliance and outcome measured at consecutive sessions"
        )
    if pairs[WITHIN].abs().max() == 0:
        raise AllianceOutcomeError(
            "no client's alliance varies across the paired sessions, so there is no "
            "within-person effect to estimate; each client needs two or more paired sessions"
        )
    predictors = {WITHIN: pairs[WITHIN].to_numpy(), BETWEEN: pairs[BETWEEN].to_numpy()}
    if control_current_outcome:
        predictors[CURRENT] = pairs[CURRENT].to_numpy()
    y = pairs[NEXT].to_numpy(dtype=np.float64)
    clinicians = int(pairs["clinician"].replace("", np.nan).nunique())
    therapist = None
    if clinician_effects:
        if (pairs["clinician"] == "").any():
            raise AllianceOutcomeError(
                "some paired sessions have no clinician; clinician effects need the clinician "
                "of every episode (leave out --clinician-effects to fit clients only)"
            )
        fit = fit_mixed(
            NEXT,
            y,
            predictors,
            "clinician",
            pairs["clinician"],
            nested={"client": pairs["client"]},
            level=level,
        )
        therapist = therapist_effect(
            y, pairs["clinician"].to_numpy(), pairs["client"].to_numpy(), bootstrap, seed, level
        )
        if clinicians < MIN_CLINICIANS:
            notes.append(
                f"only {clinicians} clinicians: below {MIN_CLINICIANS} the clinicians' share of "
                "variance is poorly estimated, so read the therapist effect and its wide "
                "interval with care"
            )
    else:
        fit = fit_mixed(NEXT, y, predictors, "client", pairs["client"], level=level)
    return AllianceOutcome(
        fit=fit,
        pairs=len(pairs),
        clients=clients,
        episodes=int(pairs.groupby(["client", "episode"]).ngroups),
        clinicians=clinicians,
        control_current_outcome=control_current_outcome,
        clinician_effects=clinician_effects,
        therapist=therapist,
        notes=tuple(notes) + fit.notes,
    )


def _icc(fit: MixedFit) -> float:
    clinician = fit.random.variances[0]
    client = fit.nested[0].variance
    total = clinician + client + fit.residual_variance
    return clinician / total if total > 0 else math.nan


def therapist_effect(
    y: np.ndarray,
    clinicians: np.ndarray,
    clients: np.ndarray,
    bootstrap: int = BOOTSTRAP,
    seed: int = 1,
    level: float = 0.95,
) -> TherapistEffect:
    """ICC of clinicians in y ~ 1 + (1 | clinician/client), REML, with a bootstrap interval.

    Each bootstrap sample draws new clinician, client and residual effects from the fitted
    variances on the same design and refits (Davison & Hinkley 1997, Bootstrap Methods, ch. 2).
    """

    def fit(values: np.ndarray) -> MixedFit:
        return fit_mixed(NEXT, values, {}, "clinician", clinicians, nested={"client": clients})

    null = fit(y)
    icc = _icc(null)
    rng = np.random.default_rng(seed)
    clinician_codes = np.unique(clinicians.astype(str), return_inverse=True)[1]
    unit_codes = np.unique(
        np.char.add(np.char.add(clinicians.astype(str), "\x1f"), clients.astype(str)),
        return_inverse=True,
    )[1]
    mean = null.fixed[0].estimate
    sds = (null.random.sds[0], null.nested[0].sd, null.residual_sd)
    found = []
    for _ in range(bootstrap):
        sample = (
            mean
            + rng.normal(0, sds[0], clinician_codes.max() + 1)[clinician_codes]
            + rng.normal(0, sds[1], unit_codes.max() + 1)[unit_codes]
            + rng.normal(0, sds[2], len(y))
        )
        try:
            value = _icc(fit(sample))
        except (MixedModelError, np.linalg.LinAlgError, ValueError):
            continue
        if math.isfinite(value):
            found.append(value)
    low, high = (
        (float(np.quantile(found, (1 - level) / 2)), float(np.quantile(found, (1 + level) / 2)))
        if found
        else (math.nan, math.nan)
    )
    return TherapistEffect(
        icc=icc,
        ci_low=low,
        ci_high=high,
        clinicians=null.n_groups,
        clinician_variance=null.random.variances[0],
        client_variance=null.nested[0].variance,
        residual_variance=null.residual_variance,
        samples=len(found),
        drawn=bootstrap,
        level=level,
    )
