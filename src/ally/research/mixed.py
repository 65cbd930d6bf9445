"""Linear mixed models: statsmodels' MixedLM, reported as lme4 reports them.

One grouping factor carries a random intercept and, when asked, random slopes with their
covariances; units nested in the groups (clients within clinicians) add a variance component
each, as lme4's `(1 | clinician/client)`. REML by default, ML when asked (Bates, Mächler, Bolker
& Walker 2015, J Stat Softw 67(1), section 3.4). Fixed effects are tested with Wald z on the
normal distribution, as statsmodels does; lme4 prints the same ratio as "t value" without a p.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

INTERCEPT = "Intercept"
_RETRIED = re.compile(r"failed to converge|Retrying MixedLM optimization")


class MixedModelError(ValueError):
    """The data cannot be fitted as asked; the message says why and what to do."""


@dataclass(frozen=True)
class FixedEffect:
    name: str
    estimate: float
    se: float
    z: float
    p: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class RandomEffects:
    """The random effects of one grouping factor: their names and covariance matrix."""

    group: str
    names: tuple[str, ...]
    covariance: tuple[tuple[float, ...], ...]

    @property
    def variances(self) -> tuple[float, ...]:
        return tuple(self.covariance[i][i] for i in range(len(self.names)))

    @property
    def sds(self) -> tuple[float, ...]:
        return tuple(math.sqrt(max(v, 0.0)) for v in self.variances)

    def correlation(self, i: int, j: int) -> float:
        """The correlation of effects i and j (nan when either has no variance)."""
        sd = self.sds
        if sd[i] == 0 or sd[j] == 0:
            return math.nan
        return self.covariance[i][j] / (sd[i] * sd[j])


@dataclass(frozen=True)
class VarianceComponent:
    """A random intercept of units nested in the groups (e.g. clients within clinicians)."""

    name: str
    variance: float

    @property
    def sd(self) -> float:
        return math.sqrt(max(self.variance, 0.0))


@dataclass(frozen=True)
class MixedFit:
    outcome: str
    fixed: tuple[FixedEffect, ...]
    random: RandomEffects
    nested: tuple[VarianceComponent, ...]
    residual_variance: float
    log_likelihood: float
    """The REML log-likelihood of a REML fit, the log-likelihood of an ML fit."""
    reml: bool
    n_obs: int
    n_groups: int
    n_nested: tuple[int, ...]
    """Units of each nested component (e.g. client–clinician pairs)."""
    converged: bool
    level: float = 0.95
    notes: tuple[str, ...] = field(default=())
    """What the optimiser warned of, e.g. a variance estimated at its boundary of 0."""

    @property
    def residual_sd(self) -> float:
        return math.sqrt(self.residual_variance)

    @property
    def criterion(self) -> float:
        """−2 log-likelihood: lme4's "REML criterion at convergence", or its deviance under ML."""
        return -2.0 * self.log_likelihood

    def effect(self, name: str) -> FixedEffect:
        for fe in self.fixed:
            if fe.name == name:
                return fe
        raise KeyError(f"no fixed effect {name!r}; the model has {[f.name for f in self.fixed]}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: numbers as fitted, unrounded."""
        re = self.random
        correlations = [
            {"between": [re.names[i], re.names[j]], "correlation": _num(re.correlation(i, j))}
            for i in range(len(re.names))
            for j in range(i + 1, len(re.names))
        ]
        return {
            "outcome": self.outcome,
            "estimation": "REML" if self.reml else "ML",
            "observations": self.n_obs,
            "groups": {re.group: self.n_groups}
            | {c.name: n for c, n in zip(self.nested, self.n_nested, strict=True)},
            "fixed_effects": [
                {
                    "name": f.name,
                    "estimate": f.estimate,
                    "se": f.se,
                    "z": f.z,
                    "p": f.p,
                    "ci_low": f.ci_low,
                    "ci_high": f.ci_high,
                }
                for f in self.fixed
            ],
            "ci_level": self.level,
            "random_effects": {
                "group": re.group,
                "effects": [
                    {"name": n, "variance": v, "sd": s}
                    for n, v, s in zip(re.names, re.variances, re.sds, strict=True)
                ],
                "correlations": correlations,
                "covariance": [list(row) for row in re.covariance],
            },
            "nested_components": [
                {"name": c.name, "variance": c.variance, "sd": c.sd} for c in self.nested
            ],
            "residual": {"variance": self.residual_variance, "sd": self.residual_sd},
            "log_likelihood": self.log_likelihood,
            "minus_two_log_likelihood": self.criterion,
            "converged": self.converged,
            "notes": list(self.notes),
        }


def _num(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _labels(values: npt.ArrayLike) -> npt.NDArray[np.str_]:
    return np.asarray([str(v) for v in np.asarray(values, dtype=object)])


def fit_mixed(
    outcome: str,
    y: npt.ArrayLike,
    predictors: Mapping[str, npt.ArrayLike],
    group: str,
    groups: npt.ArrayLike,
    random_slopes: Sequence[str] = (),
    nested: Mapping[str, npt.ArrayLike] | None = None,
    reml: bool = True,
    level: float = 0.95,
) -> MixedFit:
    """Fit y ~ 1 + predictors + (1 + random_slopes | group) [+ (1 | group:unit) per nested].

    Rows with a missing value anywhere in the model are left out (and counted out of n_obs).
    """
    from statsmodels.regression.mixed_linear_model import MixedLM, VCSpec
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    unknown = [s for s in random_slopes if s not in predictors]
    if unknown:
        raise MixedModelError(
            f"random slope {', '.join(unknown)} is not among the predictors; add it to the "
            "predictors (a random slope varies around a fixed one)"
        )
    y_ = np.asarray(y, dtype=np.float64)
    columns = {name: np.asarray(v, dtype=np.float64) for name, v in predictors.items()}
    group_labels = np.asarray(groups, dtype=object)
    nested_labels = {name: np.asarray(v, dtype=object) for name, v in (nested or {}).items()}
    for name, values in [("outcome", y_), *columns.items()]:
        if len(values) != len(y_):
            raise MixedModelError(f"{name} has {len(values)} values, the outcome {len(y_)}")
    keep = np.isfinite(y_)
    for values in columns.values():
        keep &= np.isfinite(values)
    for labels in (group_labels, *nested_labels.values()):
        keep &= np.asarray([v is not None and v == v and str(v) != "" for v in labels])
    y_ = y_[keep]
    group_of = _labels(group_labels[keep])
    names = (INTERCEPT, *columns)
    x = np.column_stack([np.ones(len(y_)), *(columns[n][keep] for n in columns)])
    z = np.column_stack([np.ones(len(y_)), *(columns[s][keep] for s in random_slopes)])
    n_groups = len(np.unique(group_of))
    if n_groups < 2:
        raise MixedModelError(
            f"{group} has {n_groups} level(s) among the complete rows; a random effect needs at "
            "least 2 groups (more than 5 to estimate its variance well)"
        )
    if len(y_) <= x.shape[1] + z.shape[1]:
        raise MixedModelError(
            f"{len(y_)} complete rows are too few for {x.shape[1]} fixed and {z.shape[1]} random "
            "effects"
        )
    if np.linalg.matrix_rank(x) < x.shape[1]:
        raise MixedModelError(
            "the predictors are collinear (one is a constant or a sum of the others); drop one"
        )
    vc = None
    n_nested: list[int] = []
    if nested_labels:
        unique_groups = np.unique(group_of)
        unit_names, colnames, mats = [], [], []
        for name, labels in nested_labels.items():
            units = _labels(labels[keep])
            n_nested.append(len(set(zip(group_of, units, strict=True))))
            per_colnames, per_mats = [], []
            for g in unique_groups:
                mine = units[group_of == g]
                levels = np.unique(mine)
                per_colnames.append([f"{name}[{v}]" for v in levels])
                per_mats.append((mine[:, None] == levels[None, :]).astype(np.float64))
            unit_names.append(name)
            colnames.append(per_colnames)
            mats.append(per_mats)
        vc = VCSpec(unit_names, colnames, mats)
    model = MixedLM(y_, x, groups=group_of, exog_re=z, exog_vc=vc)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = model.fit(reml=reml)
    notes = tuple(
        dict.fromkeys(
            str(w.message).splitlines()[0]
            for w in caught
            if issubclass(w.category, (ConvergenceWarning, RuntimeWarning, UserWarning))
            # statsmodels retries a failed optimiser with another; only the outcome matters.
            and not (result.converged and _RETRIED.search(str(w.message)))
        )
    )
    quantile = NormalDist().inv_cdf(0.5 + level / 2)
    fixed = []
    for i, name in enumerate(names):
        est, se = float(result.fe_params[i]), float(result.bse_fe[i])
        zval = est / se if se > 0 else math.nan
        # erfc keeps tiny p-values that 1 − Φ(|z|) would round to 0.
        p = math.erfc(abs(zval) / math.sqrt(2)) if math.isfinite(zval) else math.nan
        fixed.append(FixedEffect(name, est, se, zval, p, est - quantile * se, est + quantile * se))
    cov = np.asarray(result.cov_re, dtype=np.float64)
    random = RandomEffects(
        group=group,
        names=(INTERCEPT, *random_slopes),
        covariance=tuple(tuple(float(v) for v in row) for row in cov),
    )
    components = tuple(
        VarianceComponent(name, float(v))
        for name, v in zip(nested_labels, np.atleast_1d(result.vcomp), strict=True)
    )
    return MixedFit(
        outcome=outcome,
        fixed=tuple(fixed),
        random=random,
        nested=components,
        residual_variance=float(result.scale),
        log_likelihood=float(result.llf),
        reml=reml,
        n_obs=len(y_),
        n_groups=n_groups,
        n_nested=tuple(n_nested),
        converged=bool(result.converged),
        level=level,
        notes=notes,
    )
