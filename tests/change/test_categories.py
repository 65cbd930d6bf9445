"""Outcome categories: the published BDI-II headline and the precedence rules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ally.change.categories import (
    FALLBACK,
    Category,
    categorize,
    categorize_ha,
    category_conditions,
    classify_episodes,
)
from ally.change.cutoffs import CutoffType, Population
from ally.change.reliable import Method
from ally.measures.schema import Direction

PrePost = tuple[list[float], list[float]]
LOWER = Direction.LOWER_IS_BETTER
BDI_NORMS = Population(7.69, 7.52)


def test_bdi_headline_is_10_recovered_8_improved_22_unchanged(bdi: PrePost) -> None:
    # SPECS 1.1/1.3 and shared/data/README.md: clinicalsignificance's published result for
    # claus_2020 BDI-II, time 1 vs 4, JT, r .801, functional M 7.69 SD 7.52, cut-off c.
    result = classify_episodes(
        *bdi, reliability=0.801, direction=LOWER, functional=BDI_NORMS, cutoff_type=CutoffType.C
    )
    assert result.n_excluded == 3
    assert len(result.episodes) == 40
    assert result.cutoff is not None
    assert round(result.cutoff, 2) == 21.02
    assert result.counts == {
        Category.RECOVERED: 10,
        Category.IMPROVED: 8,
        Category.UNCHANGED: 22,
        Category.DETERIORATED: 0,
        Category.HARMED: 0,
    }


def test_bdi_patient_9_is_recovered_and_patient_1_unchanged(bdi: PrePost) -> None:
    # SPECS 1.1: patient 9 went 23 -> 8 (RCI −2.91), patient 1 went 33 -> 27 (RCI −1.17).
    result = classify_episodes(*bdi, reliability=0.801, direction=LOWER, functional=BDI_NORMS)
    by_id = {episode.position + 1: episode for episode in result.episodes}
    assert (by_id[9].pre, by_id[9].post, round(by_id[9].index, 2)) == (23, 8, -2.91)
    assert by_id[9].category is Category.RECOVERED
    assert (by_id[1].pre, by_id[1].post, round(by_id[1].index, 2)) == (33, 27, -1.17)
    assert by_id[1].category is Category.UNCHANGED


def test_recovery_needs_clinical_at_pre() -> None:
    # Reliably improved and functional at post, but already functional at pre: improved.
    assert categorize(True, False, False, True, False, True) is Category.IMPROVED
    assert categorize(True, False, True, False, False, True) is Category.RECOVERED


def test_improved_without_crossing_is_improved() -> None:
    assert categorize(True, False, True, False, True, False) is Category.IMPROVED


def test_harmed_is_reliable_deterioration_from_functional_into_clinical() -> None:
    assert categorize(False, True, False, True, True, False) is Category.HARMED
    assert categorize(False, True, True, False, True, False) is Category.DETERIORATED


def test_no_reliable_change_is_unchanged_whatever_the_crossing() -> None:
    assert categorize(False, False, True, False, False, True) is Category.UNCHANGED
    assert FALLBACK is Category.UNCHANGED


def test_ha_has_no_harmed_category() -> None:
    assert categorize_ha(False, True, False, False) is Category.DETERIORATED
    assert categorize_ha(True, False, True, True) is Category.RECOVERED
    assert categorize_ha(True, False, True, False) is Category.IMPROVED


def test_ha_classification_of_hamd_counts_every_person_once(hamd: PrePost) -> None:
    result = classify_episodes(
        *hamd, method=Method.HA, reliability=0.8, direction=LOWER, functional=BDI_NORMS
    )
    assert sum(result.counts.values()) == 40
    assert result.counts[Category.HARMED] == 0


def test_without_a_cutoff_nobody_recovers_or_is_harmed(bdi: PrePost) -> None:
    result = classify_episodes(*bdi, reliability=0.801, direction=LOWER, cutoff_type=None)
    assert result.cutoff is None
    assert result.counts[Category.RECOVERED] == 0
    assert result.counts[Category.IMPROVED] == 18


def test_cutoff_c_without_functional_norms_is_an_error(bdi: PrePost) -> None:
    with pytest.raises(ValueError, match="functional population"):
        classify_episodes(*bdi, reliability=0.801, direction=LOWER)


@pytest.mark.parametrize(
    ("cutoff_is_clinical", "expected"),
    [
        # clinicalsignificance: clinical_pre = dir·pre < dir·c, functional_post = dir·post > dir·c,
        # so a score equal to c is neither clinical at pre nor functional at post.
        (None, [Category.HARMED, Category.UNCHANGED, Category.IMPROVED]),
        (True, [Category.DETERIORATED, Category.UNCHANGED, Category.IMPROVED]),
        (False, [Category.HARMED, Category.UNCHANGED, Category.RECOVERED]),
    ],
)
def test_a_score_equal_to_the_cutoff_follows_the_chosen_tie_rule(
    cutoff_is_clinical: bool | None, expected: list[Category]
) -> None:
    # Pre M 30 SD 10 and functional M 10 SD 10 put cut-off c at exactly 20 (lower is better).
    result = classify_episodes(
        [20.0, 30.0, 40.0],
        [40.0, 30.0, 20.0],
        reliability=0.9,
        direction=LOWER,
        functional=Population(10, 10),
        cutoff_is_clinical=cutoff_is_clinical,
    )
    assert result.cutoff == 20
    assert [episode.category for episode in result.episodes] == expected


def test_conditions_give_the_same_categories_on_numpy_arrays(bdi: PrePost) -> None:
    flags = [
        [True, True, False, False, False, True],
        [True, True, False, False, True, False],
        [False, False, True, True, False, False],
        [True, False, False, True, True, False],
        [False, True, False, True, True, False],
    ]
    columns = [np.array(column) for column in zip(*flags, strict=True)]
    conditions = category_conditions(*columns)
    chosen = np.select(
        [condition for _, condition in conditions],
        [str(category) for category, _ in conditions],
        default=str(FALLBACK),
    )
    assert chosen.tolist() == [str(categorize(*row)) for row in flags]


@given(score=st.floats(min_value=0, max_value=63), cut=st.floats(min_value=0, max_value=63))
def test_a_person_with_no_change_is_unchanged(score: float, cut: float) -> None:
    pre = [score, 10.0, 20.0, 30.0]
    result = classify_episodes(
        pre,
        [score, 12.0, 15.0, 33.0],
        reliability=0.8,
        direction=LOWER,
        functional=Population(cut, 5),
    )
    assert result.episodes[0].index == 0
    assert result.episodes[0].category is Category.UNCHANGED
