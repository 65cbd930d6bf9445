"""NHS Talking Therapies paired PHQ-9/GAD-7 rules (SPECS section 2)."""

from __future__ import annotations

import numpy as np

from ally.change.talking_therapies import (
    PairedOutcome,
    Thresholds,
    paired_outcome,
    talking_therapies_outcome,
)


def test_specs_worked_example_is_reliable_recovery() -> None:
    # SPECS 2: PHQ-9 16 -> 9 with GAD-7 9 -> 6: caseness at start, PHQ fell 7 (>= 6), no
    # reliable GAD rise, both below caseness at the end.
    outcome = talking_therapies_outcome(16, 9, 9, 6)
    assert outcome == PairedOutcome(
        caseness_start=True,
        caseness_end=False,
        reliable_improvement=True,
        reliable_deterioration=False,
        recovered=True,
        reliable_recovery=True,
    )


def test_caseness_is_phq9_from_10_or_gad7_from_8() -> None:
    assert talking_therapies_outcome(10, 0, 0, 0).caseness_start
    assert talking_therapies_outcome(0, 0, 8, 0).caseness_start
    assert not talking_therapies_outcome(9, 0, 7, 0).caseness_start


def test_a_fall_of_exactly_6_phq9_or_4_gad7_points_is_reliable() -> None:
    assert talking_therapies_outcome(15, 9, 5, 5).reliable_improvement
    assert talking_therapies_outcome(5, 5, 12, 8).reliable_improvement
    assert not talking_therapies_outcome(15, 10, 12, 9).reliable_improvement


def test_a_reliable_rise_on_the_other_measure_cancels_improvement() -> None:
    outcome = talking_therapies_outcome(20, 10, 5, 9)
    assert not outcome.reliable_improvement
    assert not outcome.reliable_deterioration


def test_reliable_deterioration_mirrors_improvement() -> None:
    assert talking_therapies_outcome(5, 11, 5, 5).reliable_deterioration
    assert talking_therapies_outcome(5, 5, 5, 9).reliable_deterioration
    assert not talking_therapies_outcome(5, 10, 5, 8).reliable_deterioration


def test_recovery_needs_caseness_at_start_and_both_measures_below_at_the_end() -> None:
    assert not talking_therapies_outcome(8, 2, 6, 1).recovered  # not a case at start
    assert not talking_therapies_outcome(16, 9, 10, 8).recovered  # GAD-7 still at 8
    recovered_not_reliably = talking_therapies_outcome(11, 9, 5, 5)
    assert recovered_not_reliably.recovered
    assert not recovered_not_reliably.reliable_recovery


def test_thresholds_are_parameters() -> None:
    strict = Thresholds(gad7_caseness=10)
    assert not talking_therapies_outcome(0, 0, 8, 0, strict).caseness_start


def test_paired_outcome_on_numpy_columns_equals_the_scalar_rules() -> None:
    rows = [(16, 9, 9, 6), (5, 11, 5, 5), (20, 10, 5, 9), (11, 9, 5, 5), (8, 2, 6, 1)]
    phq_start, phq_end, gad_start, gad_end = (
        np.array(column) for column in zip(*rows, strict=True)
    )
    columns = paired_outcome(phq_start, phq_end, gad_start, gad_end)
    for i, row in enumerate(rows):
        scalar = talking_therapies_outcome(*row)
        assert bool(columns.reliable_recovery[i]) == scalar.reliable_recovery
        assert bool(columns.reliable_improvement[i]) == scalar.reliable_improvement
        assert bool(columns.reliable_deterioration[i]) == scalar.reliable_deterioration
        assert bool(columns.recovered[i]) == scalar.recovered
        assert bool(columns.caseness_start[i]) == scalar.caseness_start
