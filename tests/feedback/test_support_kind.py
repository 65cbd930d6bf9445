"""A support check (kind "support") is no outcome: fitting and applying the practice model give
it no expected course, no signal and no reliable change, however much history it has."""

from __future__ import annotations

import numpy as np

from ally.feedback.fit import FitOptions, fit_practice
from ally.feedback.practice import params_of
from ally.feedback.results import ENDINGS, Administrations, results
from ally.measures import load_library

EPISODES, SESSIONS = 80, 5


def support_history() -> Administrations:
    """80 episodes of five support checks each, worsening in half of them: enough for a fitted
    expected course (50 episodes with a session-1 score and three sessions) if it were one."""
    rng = np.random.default_rng(7)
    n = EPISODES * SESSIONS
    start = rng.uniform(1.0, 3.5, EPISODES)
    slope = np.where(np.arange(EPISODES) % 2 == 0, -0.3, 0.2)
    session = np.tile(np.arange(1, SESSIONS + 1), EPISODES)
    episode = np.repeat(np.arange(EPISODES), SESSIONS)
    score = np.clip(start[episode] + slope[episode] * (session - 1), 0, 4)
    return Administrations(
        episode=episode.astype(np.int64),
        measure=np.zeros(n, np.int64),
        measure_ids=("ally-support",),
        rater=np.zeros(n, np.int64),
        session=session.astype(np.int64),
        day=(session - 1) * 7.0,
        score=score,
        subscales={},
        ending=np.full(n, ENDINGS.index("ongoing"), np.int64),
    )


def test_the_support_check_gets_no_expected_course_signal_or_reliable_change() -> None:
    m = load_library().get("ally-support")
    history = support_history()
    model = fit_practice(
        history, {m.id: params_of(m)}, FitOptions(fitted_at="2026-03-02", dropout=False)
    )
    fitted = model.measure("ally-support")
    assert fitted.outcome is None
    assert fitted.low_alliance is None
    found = results(model, history).sessions
    assert all(signal is None for signal in found.signal)
    assert np.isnan(found.expected).all()
    assert np.isnan(found.rci).all()
