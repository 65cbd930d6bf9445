"""Each goal's course: its first and last rating and whether the change is reliable."""

from __future__ import annotations

import numpy as np
import pytest

from ally.change.goals import NO_CHANGE, PROGRESS, WORSE, goal_course

N = np.nan


def test_each_goal_is_compared_with_its_own_first_rating() -> None:
    # Goal 2 was set at the second session: its first rating is that session's.
    course = goal_course([[2, N], [3, 1], [6, 2]], [0])
    assert course.first.tolist() == [[2, 1]]
    assert course.last.tolist() == [[6, 2]]
    assert course.change.tolist() == [[4, 1]]
    assert course.reliable.tolist() == [[PROGRESS, NO_CHANGE]]


def test_three_points_is_reliable_by_default_and_the_threshold_can_be_set() -> None:
    ratings = [[2, 7], [5, 4]]
    assert goal_course(ratings, [0]).reliable.tolist() == [[PROGRESS, WORSE]]
    assert goal_course(ratings, [0], threshold=4).reliable.tolist() == [[NO_CHANGE, NO_CHANGE]]


def test_episodes_are_segments_and_do_not_mix() -> None:
    course = goal_course([[1, N], [9, N], [5, 5]], [0, 2])
    assert course.first.tolist()[0][0] == 1
    assert course.last.tolist()[0][0] == 9
    assert course.first.tolist()[1] == [5, 5]
    # One rating only: no change to judge.
    assert course.reliable.tolist()[1] == [None, None]


def test_the_threshold_must_be_above_zero() -> None:
    with pytest.raises(ValueError, match="above 0"):
        goal_course([[1]], [0], threshold=0)
