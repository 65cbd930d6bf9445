"""The web app's stored results against `ally analyze --model` on an export of the same answers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ally.engine.analyze import analyze
from ally.engine.options import Options
from ally.web.monitoring import refresh
from ally.web.monitoring.export import write_answers
from ally.web.monitoring.models import EpisodeFeedback, SessionFeedback
from ally.web.practice.models import Episode, Organisation


def batch(organisation: Organisation, episodes: Sequence[Episode], folder: Path) -> Any:
    """`ally analyze --model` on an export of the episodes' answers, under the organisation's
    current practice model: (sessions, episodes) keyed as the stored rows are."""
    folder.mkdir(parents=True, exist_ok=True)
    write_answers(episodes, folder / "answers.csv")
    model, _ = refresh.model_for(organisation.pk)
    (folder / "model.json").write_text(model.to_json())
    analyze(
        Options(
            input=folder / "answers.csv",
            out=folder / "out",
            format="parquet",
            model=folder / "model.json",
            progress=False,
        )
    )
    sessions = pd.read_parquet(folder / "out" / "sessions.parquet")
    series = pd.read_parquet(folder / "out" / "episodes.parquet")
    by_session = {
        (int(r.episode), r.measure, r.rater, int(r.session)): r for r in sessions.itertuples()
    }
    by_series = {(int(r.episode), r.measure, r.rater): r for r in series.itertuples()}
    return by_session, by_series


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def same(stored: Any, batch_value: Any) -> bool:
    """A stored value equals the batch's: numbers exactly, text and flags as shown."""
    if _missing(batch_value):
        return _missing(stored) or stored in ("", False)
    if isinstance(stored, float) or isinstance(batch_value, float):
        return float(stored) == float(batch_value)
    return bool(stored == batch_value)


SESSION_FIELDS = {
    "score": "score",
    "band": "band",
    "baseline": "baseline",
    "change": "change",
    "rci": "rci",
    "reliable_change": "reliable_change",
    "expected": "expected",
    "expected_low": "expected_low",
    "expected_high": "expected_high",
    "signal": "signal",
    "rupture": "rupture",
    "repair": "repair",
    "rupture_subscale": "rupture_subscale",
    "discrepancy": "discrepancy",
    "risk_flags": "risk_flags",
    "dropout_risk": "dropout_risk",
}
EPISODE_FIELDS = (
    "sessions",
    "first_session",
    "last_session",
    "first_score",
    "last_score",
    "change",
    "rci",
    "reliable_change",
    "category",
    "sudden_gains",
    "sudden_losses",
    "talking_therapies",
)


def assert_stored_equals_batch(organisation: Organisation, folder: Path) -> int:
    """Every stored number of the organisation equals `ally analyze --model`'s; the count of
    numbers compared."""
    episodes = list(Episode.objects.filter(organisation=organisation))
    by_session, by_series = batch(organisation, episodes, folder)
    stored = SessionFeedback.objects.filter(episode__organisation=organisation)
    assert stored.count() == len(by_session)
    compared = 0
    for row in stored:
        expected = by_session[(row.episode_id, row.measure_id, row.rater, row.session_number)]
        for ours, theirs in SESSION_FIELDS.items():
            assert same(getattr(row, ours), getattr(expected, theirs)), (ours, row.pk)
            compared += 1
    series = EpisodeFeedback.objects.filter(episode__organisation=organisation)
    assert series.count() == len(by_series)
    for row in series:
        expected = by_series[(row.episode_id, row.measure_id, row.rater)]
        for name in EPISODE_FIELDS:
            assert same(getattr(row, name), getattr(expected, name)), (name, row.pk)
            compared += 1
        for name in ("ruptures", "repairs", "unrepaired"):
            theirs = getattr(expected, name)
            assert getattr(row, name) == (0 if pd.isna(theirs) else int(theirs)), name
    return compared
