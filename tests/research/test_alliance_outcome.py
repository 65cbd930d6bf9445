"""The alliance–outcome analysis recovers known within- and between-person effects.

The data are simulated here from the model the analysis fits (Curran & Bauer 2011): outcome at
s + 1 = 20 + γ_W (A_is − Ā_i) + γ_B (Ā_i − Ā) + u_i (+ v_k) + e, with γ_W and γ_B of opposite
signs, so that a blend of the two would miss both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ally.research.alliance_outcome import (
    BETWEEN,
    NEXT,
    WITHIN,
    AllianceOutcomeError,
    alliance_outcome,
    next_session_pairs,
    therapist_effect,
)

WITHIN_TRUE = -0.5
BETWEEN_TRUE = 1.0


def _practice(
    clients: int = 80,
    sessions: int = 8,
    clinicians: int = 8,
    clinician_sd: float = 0.0,
    seed: int = 3,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Alliance at sessions 1..sessions−1, outcome at 2..sessions, from the fitted model."""
    rng = np.random.default_rng(seed)
    alliance_rows, outcome_rows = [], []
    trait = rng.normal(20, 3, clients)
    clinician_effect = rng.normal(0, clinician_sd, clinicians) if clinician_sd else np.zeros(8)
    scores = trait[:, None] + rng.normal(0, 2, (clients, sessions - 1))
    person_mean = scores.mean(axis=1)
    grand = person_mean.mean()
    for i in range(clients):
        k = i % clinicians
        u = rng.normal(0, 2)
        for s in range(1, sessions):
            a = scores[i, s - 1]
            y = (
                20
                + WITHIN_TRUE * (a - person_mean[i])
                + BETWEEN_TRUE * (person_mean[i] - grand)
                + u
                + clinician_effect[k]
                + rng.normal(0, 1.5)
            )
            row = {"client": f"c{i}", "episode": f"e{i}", "clinician": f"t{k}"}
            alliance_rows.append(row | {"session": s, "score": a})
            outcome_rows.append(row | {"session": s + 1, "score": y})
    return pd.DataFrame(alliance_rows), pd.DataFrame(outcome_rows)


def _rows(*rows: tuple[str, str, int, float]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"client": c, "episode": e, "clinician": "t1", "session": s, "score": v}
            for c, e, s, v in rows
        ]
    )


def test_alliance_pairs_with_the_outcome_of_the_next_session_of_the_same_episode() -> None:
    alliance = _rows(("a", "e1", 1, 20), ("a", "e1", 2, 24), ("a", "e1", 4, 22), ("a", "e2", 1, 9))
    outcome = _rows(("a", "e1", 2, 15), ("a", "e1", 3, 12), ("a", "e1", 6, 11), ("a", "e2", 3, 30))
    pairs, _ = next_session_pairs(alliance, outcome)
    # Session 4's outcome is missing, so session 4's alliance is not paired with session 6;
    # e2 session 1 has no outcome at session 2, and nothing pairs across episodes.
    assert pairs[["episode", "session", "alliance", NEXT]].values.tolist() == [
        ["e1", 1, 20, 15],
        ["e1", 2, 24, 12],
    ]


def test_within_part_sums_to_zero_per_client_and_between_part_is_grand_mean_centred() -> None:
    alliance, outcome = _practice(clients=10)
    pairs, _ = next_session_pairs(alliance, outcome)
    assert pairs.groupby("client")[WITHIN].sum().abs().max() == pytest.approx(0, abs=1e-9)
    assert pairs.groupby("client")[BETWEEN].first().mean() == pytest.approx(0, abs=1e-9)
    assert (pairs["alliance"] == pairs["person_mean"] + pairs[WITHIN]).all()


def test_repeated_scores_of_one_session_are_averaged_and_said() -> None:
    alliance = _rows(("a", "e1", 1, 20), ("a", "e1", 1, 22))
    outcome = _rows(("a", "e1", 2, 10))
    pairs, notes = next_session_pairs(alliance, outcome)
    assert pairs["alliance"].tolist() == [21]
    assert "1 session(s) had more than one alliance score" in notes[0]


def test_known_within_and_between_effects_are_recovered_within_their_intervals() -> None:
    alliance, outcome = _practice()
    found = alliance_outcome(alliance, outcome)
    assert found.within.ci_low < WITHIN_TRUE < found.within.ci_high
    assert found.between.ci_low < BETWEEN_TRUE < found.between.ci_high
    # They are told apart: each interval excludes the other's value.
    assert found.within.ci_high < 0 < found.between.ci_low
    assert (found.pairs, found.clients, found.episodes) == (80 * 7, 80, 80)
    assert found.fit.random.group == "client"
    assert found.therapist is None


def test_the_current_outcome_can_be_controlled_for() -> None:
    alliance, outcome = _practice(clients=30)
    now = outcome.assign(session=outcome["session"] - 1)  # the outcome at the alliance's session
    found = alliance_outcome(alliance, pd.concat([outcome, now]), control_current_outcome=True)
    assert [f.name for f in found.fit.fixed] == ["Intercept", WITHIN, BETWEEN, "outcome_now"]
    assert "outcome_now" in found.to_dict()["model"]["fixed_effects"][3]["name"]


def test_clinician_effects_nest_clients_in_clinicians_and_give_the_therapist_share() -> None:
    # Clinician SD 2 against client SD 2 (plus the between-alliance part) and residual 1.5.
    alliance, outcome = _practice(clients=96, sessions=5, clinicians=12, clinician_sd=2.0)
    found = alliance_outcome(alliance, outcome, clinician_effects=True, bootstrap=25, seed=2)
    assert found.fit.random.group == "clinician"
    assert found.fit.nested[0].name == "client"
    assert found.within.ci_low < WITHIN_TRUE < found.within.ci_high
    t = found.therapist
    assert t is not None
    assert t.clinicians == 12
    assert 0 < t.ci_low < t.icc < t.ci_high < 1
    assert t.samples == 25
    assert any("only 12 clinicians" in note for note in found.notes)


def test_therapist_share_interval_covers_a_known_icc() -> None:
    # y = v_k + u_i + e with variances 1, 2 and 1: ICC of clinicians 0.25.
    rng = np.random.default_rng(11)
    clinicians = np.repeat(np.arange(40), 20)
    clients = np.repeat(np.arange(200), 4)
    y = rng.normal(0, 1, 40)[clinicians] + rng.normal(0, 2**0.5, 200)[clients]
    y = y + rng.normal(0, 1, 800)
    found = therapist_effect(y, clinicians, clients % 5, bootstrap=30, seed=1)
    assert found.ci_low < 0.25 < found.ci_high
    assert found.clinicians == 40


def test_too_few_pairs_are_refused_with_the_reason() -> None:
    alliance = _rows(("a", "e1", 1, 20), ("a", "e1", 2, 24))
    outcome = _rows(("a", "e1", 2, 15), ("a", "e1", 3, 12))
    with pytest.raises(AllianceOutcomeError, match="several clients"):
        alliance_outcome(alliance, outcome)
