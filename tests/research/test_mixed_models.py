"""Ally's mixed models agree with lme4 on lme4's own examples, to the precision lme4 prints.

Published output:
- sleepstudy, `fm1 <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)` (lme4 help page
  `?sleepstudy`; the summary is printed e.g. in D. Barr, "Linear mixed-effects models",
  University of Glasgow, stat-models slides 05_lmms_1): REML criterion 1743.6; Subject
  (Intercept) variance 612.10, SD 24.741; Days variance 35.07, SD 5.922, correlation 0.07;
  Residual variance 654.94, SD 25.592; fixed (Intercept) 251.405 (SE 6.825, t 36.838), Days
  10.467 (SE 1.546, t 6.771). The same model fitted by ML (in the slides' anova table):
  logLik -876, deviance 1752, AIC 1764.
- Dyestuff, `lmer(Yield ~ 1 + (1 | Batch), Dyestuff)` (Bates, lme4 book draft "Mixed models
  in R", ch. 1): REML criterion 319.7; Batch variance 1764, SD 42.00; Residual 2451, SD 49.51;
  (Intercept) 1527.50 (SE 19.38, t 78.8). With REML = FALSE: logLik -163.6635, deviance
  327.3271, Batch SD 37.26, Residual SD 49.51, (Intercept) SE 17.69 (also in the tests of
  MixedModels.jl and OpenMx, `omxCheckCloseEnough(fit, 327.3271)`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ally.research.mixed import INTERCEPT, MixedModelError, fit_mixed

DATA = Path(__file__).parent / "data"


def _printed(value: float, digits: int) -> float:
    return round(value, digits)


@pytest.fixture(scope="module")
def sleepstudy() -> pd.DataFrame:
    return pd.read_csv(DATA / "sleepstudy.csv")


@pytest.fixture(scope="module")
def dyestuff() -> pd.DataFrame:
    return pd.read_csv(DATA / "Dyestuff.csv")


def test_sleepstudy_random_slope_reml_matches_lme4(sleepstudy: pd.DataFrame) -> None:
    fit = fit_mixed(
        "Reaction",
        sleepstudy["Reaction"],
        {"Days": sleepstudy["Days"]},
        "Subject",
        sleepstudy["Subject"],
        random_slopes=["Days"],
    )
    intercept, days = fit.effect(INTERCEPT), fit.effect("Days")
    assert (_printed(intercept.estimate, 3), _printed(intercept.se, 3)) == (251.405, 6.825)
    assert (_printed(days.estimate, 3), _printed(days.se, 3)) == (10.467, 1.546)
    assert (_printed(intercept.z, 3), _printed(days.z, 3)) == (36.838, 6.771)
    assert tuple(_printed(sd, 3) for sd in fit.random.sds) == (24.741, 5.922)
    assert tuple(_printed(v, 2) for v in fit.random.variances) == (612.10, 35.07)
    assert (
        _printed(fit.random.correlation(0, 1), 3) == 0.066
    )  # lme4 prints 0.07 or 0.066 by version
    assert _printed(fit.residual_sd, 3) == 25.592
    assert _printed(fit.residual_variance, 2) == 654.94
    assert _printed(fit.criterion, 1) == 1743.6
    assert (fit.n_obs, fit.n_groups, fit.reml, fit.converged) == (180, 18, True, True)


def test_sleepstudy_by_maximum_likelihood_matches_lme4(sleepstudy: pd.DataFrame) -> None:
    fit = fit_mixed(
        "Reaction",
        sleepstudy["Reaction"],
        {"Days": sleepstudy["Days"]},
        "Subject",
        sleepstudy["Subject"],
        random_slopes=["Days"],
        reml=False,
    )
    assert round(fit.log_likelihood) == -876
    assert round(fit.criterion) == 1752
    assert round(fit.criterion + 2 * 6) == 1764  # AIC with 6 parameters
    # ML leaves the fixed effects of a balanced design as they are under REML.
    assert _printed(fit.effect("Days").estimate, 3) == 10.467


def test_dyestuff_random_intercept_reml_matches_lme4(dyestuff: pd.DataFrame) -> None:
    fit = fit_mixed("Yield", dyestuff["Yield"], {}, "Batch", dyestuff["Batch"])
    intercept = fit.effect(INTERCEPT)
    assert (_printed(intercept.estimate, 2), _printed(intercept.se, 2)) == (1527.50, 19.38)
    assert _printed(intercept.z, 1) == 78.8
    assert _printed(fit.random.sds[0], 2) == 42.00
    assert round(fit.random.variances[0]) == 1764
    assert _printed(fit.residual_sd, 2) == 49.51
    assert round(fit.residual_variance) == 2451
    assert _printed(fit.criterion, 1) == 319.7
    assert (fit.n_obs, fit.n_groups) == (30, 6)


def test_dyestuff_by_maximum_likelihood_matches_lme4(dyestuff: pd.DataFrame) -> None:
    fit = fit_mixed("Yield", dyestuff["Yield"], {}, "Batch", dyestuff["Batch"], reml=False)
    assert _printed(fit.log_likelihood, 4) == -163.6635
    assert _printed(fit.criterion, 4) == 327.3271
    assert _printed(fit.random.sds[0], 2) == 37.26
    assert _printed(fit.residual_sd, 2) == 49.51
    assert _printed(fit.effect(INTERCEPT).se, 2) == 17.69


def test_interval_is_estimate_plus_minus_normal_quantile_times_se(
    sleepstudy: pd.DataFrame,
) -> None:
    fit = fit_mixed(
        "Reaction",
        sleepstudy["Reaction"],
        {"Days": sleepstudy["Days"]},
        "Subject",
        sleepstudy["Subject"],
    )
    days = fit.effect("Days")
    assert days.ci_low == pytest.approx(days.estimate - 1.959963984540054 * days.se)
    assert days.ci_high == pytest.approx(days.estimate + 1.959963984540054 * days.se)
    assert 0 < days.p < 1e-6


def test_json_has_every_reported_number(sleepstudy: pd.DataFrame) -> None:
    fit = fit_mixed(
        "Reaction",
        sleepstudy["Reaction"],
        {"Days": sleepstudy["Days"]},
        "Subject",
        sleepstudy["Subject"],
        random_slopes=["Days"],
    )
    found = fit.to_dict()
    assert found["estimation"] == "REML"
    assert found["groups"] == {"Subject": 18}
    assert [f["name"] for f in found["fixed_effects"]] == ["Intercept", "Days"]
    assert found["random_effects"]["correlations"][0]["between"] == ["Intercept", "Days"]
    assert found["residual"]["sd"] == pytest.approx(25.592, abs=5e-4)
    assert found["minus_two_log_likelihood"] == pytest.approx(1743.6283, abs=1e-3)


def test_rows_with_a_missing_value_are_left_out(sleepstudy: pd.DataFrame) -> None:
    y = sleepstudy["Reaction"].to_numpy(dtype=float).copy()
    y[:3] = np.nan
    fit = fit_mixed("Reaction", y, {"Days": sleepstudy["Days"]}, "Subject", sleepstudy["Subject"])
    assert fit.n_obs == 177


def test_nested_units_add_a_variance_component() -> None:
    # 8 clinicians x 10 clients x 6 sessions with known variances 4, 9 and 1.
    rng = np.random.default_rng(7)
    clinician = np.repeat(np.arange(8), 60)
    client = np.repeat(np.arange(80), 6) % 10  # client labels repeat across clinicians
    y = (
        10
        + rng.normal(0, 2, 8)[clinician]
        + rng.normal(0, 3, 80)[np.repeat(np.arange(80), 6)]
        + rng.normal(0, 1, 480)
    )
    fit = fit_mixed("y", y, {}, "clinician", clinician, nested={"client": client})
    assert fit.n_nested == (80,)
    assert fit.nested[0].variance == pytest.approx(9, rel=0.4)
    assert fit.residual_variance == pytest.approx(1, rel=0.2)


def test_a_random_slope_must_be_a_predictor(sleepstudy: pd.DataFrame) -> None:
    with pytest.raises(MixedModelError, match="not among the predictors"):
        fit_mixed(
            "Reaction", sleepstudy["Reaction"], {}, "Subject", sleepstudy["Subject"], ["Days"]
        )


def test_one_group_is_refused() -> None:
    with pytest.raises(MixedModelError, match="at least 2 groups"):
        fit_mixed("y", [1.0, 2.0, 3.0, 4.0], {}, "g", ["a", "a", "a", "a"])


def test_collinear_predictors_are_refused(sleepstudy: pd.DataFrame) -> None:
    days = sleepstudy["Days"]
    with pytest.raises(MixedModelError, match="collinear"):
        fit_mixed(
            "Reaction",
            sleepstudy["Reaction"],
            {"Days": days, "Twice": 2 * days},
            "Subject",
            sleepstudy["Subject"],
        )
