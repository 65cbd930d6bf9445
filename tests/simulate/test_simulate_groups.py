"""The simulator's groups answer the group check-in with a known group effect, so the ICC and
the group means can be checked against the truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ally.groups.agreement import one_way
from ally.simulate import SimulationConfig, simulate


def _members(out: Path) -> tuple[pd.Series, pd.DataFrame]:
    sessions = pd.read_csv(out / "sessions.csv")
    checkins = sessions[sessions["measure"] == "ally-group"].copy()
    # The group-as-a-whole level: items 5 and 6.
    checkins["level"] = (checkins["item5"] + checkins["item6"]) / 2
    member = checkins.groupby(["group", "client"])["level"].mean()
    return member, pd.read_csv(out / "truth_episodes.csv")


def test_group_members_answer_the_check_in_and_others_do_not(tmp_path: Path) -> None:
    simulate(SimulationConfig(episodes=300, seed=2, group_checkin=True), tmp_path)
    sessions = pd.read_csv(tmp_path / "sessions.csv")
    checkins = sessions[sessions["measure"] == "ally-group"]
    assert len(checkins) > 0
    assert checkins["group"].notna().all()
    assert checkins[[f"item{k}" for k in range(1, 7)]].isin(range(11)).all().all()
    assert set(checkins["item7"]) <= {0, 1}


def test_the_icc_finds_the_known_group_effect(tmp_path: Path) -> None:
    cfg = SimulationConfig(episodes=2000, seed=3, group_checkin=True)
    simulate(cfg, tmp_path)
    member, truth = _members(tmp_path)
    found = one_way(member.to_numpy(), member.index.get_level_values(0).to_numpy())
    # A member's mean over ~10 sessions of two items: the group's variance over everything.
    between = cfg.group_checkin_sd**2
    expected = between / (between + cfg.group_checkin_member_sd**2)
    assert found.icc1 == pytest.approx(expected, abs=0.15)
    # The groups' observed means follow their true levels.
    true = truth.dropna(subset=["group"]).groupby("group")["group_group_true"].first()
    observed = member.groupby(level=0).mean()
    assert np.corrcoef(true.loc[observed.index], observed)[0, 1] > 0.8


def test_without_a_group_effect_the_icc_is_near_zero(tmp_path: Path) -> None:
    simulate(
        SimulationConfig(episodes=2000, seed=3, group_checkin=True, group_checkin_sd=0.0), tmp_path
    )
    member, _ = _members(tmp_path)
    found = one_way(member.to_numpy(), member.index.get_level_values(0).to_numpy())
    assert abs(found.icc1) < 0.1


def test_without_group_checkin_no_member_answers_the_check_in(tmp_path: Path) -> None:
    simulate(SimulationConfig(episodes=300, seed=2), tmp_path)
    assert "ally-group" not in set(pd.read_csv(tmp_path / "sessions.csv")["measure"])
