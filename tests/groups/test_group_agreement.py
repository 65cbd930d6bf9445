"""ICC(1), ICC(2), rwg(j) and AD_M as Bliese's `multilevel` package computes them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from statsmodels.stats.anova import anova_lm

from ally.groups.agreement import agreement, one_way, uniform_variance


def test_with_equal_groups_icc1_and_icc2_are_shrout_and_fleiss_icc_1_1_and_1_k(
    shared_data: Path,
) -> None:
    # shared/data/README.md: Shrout & Fleiss (1979), 6 targets x 4 judges; ICC1 0.1657418 and
    # ICC1k 0.4427971 are their one-way forms, the same ANOVA as multilevel's ICC1 and ICC2 when
    # every group (target) has the same size.
    ratings = pd.read_csv(shared_data / "shrout_fleiss_1979.csv").to_numpy()
    values = ratings.ravel()
    groups = np.repeat(np.arange(ratings.shape[0]), ratings.shape[1])
    result = one_way(values, groups)
    assert round(result.icc1, 7) == 0.1657418
    assert round(result.icc2, 7) == 0.4427971
    assert result.mean_group_size == 4


def test_unequal_groups_use_the_mean_group_size_and_match_an_independent_anova() -> None:
    rng = np.random.default_rng(7)
    sizes = [3, 5, 8, 4, 6, 2, 7]
    groups = np.repeat([f"g{i}" for i in range(len(sizes))], sizes)
    effects = dict(zip(sorted(set(groups)), rng.normal(0, 1, len(sizes)), strict=True))
    values = np.array([effects[g] for g in groups]) + rng.normal(0, 1.5, len(groups))
    result = one_way(values, groups)

    # statsmodels' one-way ANOVA table: the mean squares multilevel reads from R's aov.
    table = anova_lm(smf.ols("y ~ C(g)", data=pd.DataFrame({"y": values, "g": groups})).fit())
    msb, msw = table["mean_sq"].iloc[0], table["mean_sq"].iloc[1]
    df_b, df_w = table["df"].iloc[0], table["df"].iloc[1]
    k = (df_w + df_b + 1) / (df_b + 1)  # multilevel's GSIZE, which is N / G
    assert k == pytest.approx(len(groups) / len(sizes))
    assert result.between == pytest.approx(msb)
    assert result.within == pytest.approx(msw)
    assert result.icc1 == pytest.approx((msb - msw) / (msb + (k - 1) * msw))
    assert result.icc2 == pytest.approx((msb - msw) / msb)


def test_members_without_a_value_are_left_out() -> None:
    full = one_way([1, 2, 3, 6, 7, 9], ["a", "a", "a", "b", "b", "b"])
    gap = one_way([1, 2, 3, np.nan, 6, 7, 9], ["a", "a", "a", "a", "b", "b", "b"])
    assert gap == full


def test_values_all_alike_have_no_icc_rather_than_an_error() -> None:
    # 0 / 0, which R's multilevel::ICC1 and ICC2 give as NaN: `ally analyze` on a group whose
    # members all answered alike stopped with a ZeroDivisionError.
    found = one_way([5.0, 5.0, 5.0, 5.0], ["a", "a", "b", "b"])
    assert (found.between, found.within) == (0.0, 0.0)
    assert np.isnan(found.icc1)
    assert np.isnan(found.icc2)


def test_one_group_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="at least 2 groups"):
        one_way([1, 2, 3], ["a", "a", "a"])


def test_the_uniform_null_of_five_options_is_two() -> None:
    # multilevel's rwg.j: ranvar = 2 for five options, (A^2 - 1) / 12 in general.
    assert uniform_variance(5) == 2
    assert uniform_variance(11) == 10


def test_rwg_j_and_ad_m_by_hand() -> None:
    # Group a: item variances 1 and 1/3 (mean 2/3), J = 2, null 2 (five options):
    # rwg(j) = 2(1 - 1/3) / (2(1 - 1/3) + 1/3) = 0.8; AD_M = mean of 2/3 and 4/9 = 5/9.
    # Group b: one member has a missing item and is left out, so one member stays: no value.
    items = [[3, 4], [4, 4], [5, 5], [1, 2], [1, np.nan]]
    found = agreement(items, ["a", "a", "a", "b", "b"], options=5)
    a, b = found
    assert (a.group, a.n) == ("a", 3)
    assert a.rwg_j == pytest.approx(0.8)
    assert a.ad_m == pytest.approx(5 / 9)
    assert (b.group, b.n) == ("b", 1)
    assert np.isnan(b.rwg_j)
    assert np.isnan(b.ad_m)


def test_a_variance_above_the_null_is_no_agreement() -> None:
    found = agreement([[1], [5], [1], [5]], ["a"] * 4, options=5)
    assert found[0].rwg_j == 0
    assert found[0].ad_m == 2


def test_bliese_bh1996_well_being_has_the_published_icc1(shared_data: Path) -> None:
    # multilevel's bh1996 (Bliese & Halverson 1996: 7,382 soldiers in 99 companies), exported
    # from the R package's data/bh1996.rda (GPL >= 2). ICC1(aov(WBEING ~ as.factor(GRP)))
    # printed as 0.04336905 in an R Markdown companion to Bliese's (2016) multilevel tutorial
    # (jasondmarshall.com/multilevel-steps).
    path = shared_data / "bh1996.csv"
    if not path.exists():
        pytest.skip(f"{path} not found: export bh1996 from R's multilevel package to add it")
    data = pd.read_csv(path)
    result = one_way(data["WBEING"].to_numpy(), data["GRP"].to_numpy())
    assert (result.groups, result.members) == (99, 7382)
    assert round(result.icc1, 8) == 0.04336905
