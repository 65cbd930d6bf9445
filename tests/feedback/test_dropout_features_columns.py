"""Dropout features over columns sorted by episode: each rule by hand, then against a plain loop."""

from __future__ import annotations

import datetime as dt
import math
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, fields, replace

import numpy as np
import pytest

from ally.feedback.dropout_features import (
    FEATURES,
    MeasureFacts,
    SessionFeatures,
    SessionRows,
    dropout_labels,
    features_of,
    training_rows_of,
)

MEASURES = ("bare-alliance", "gad7", "notes", "ors", "phq9", "srs", "wai-sr")
FACTS = MeasureFacts(
    kinds={
        "phq9": "outcome",
        "gad7": "outcome",
        "ors": "outcome",
        "srs": "alliance",
        "wai-sr": "alliance",
        "bare-alliance": "alliance",
    },
    signs={"phq9": -1, "gad7": -1, "ors": 1, "srs": 1, "wai-sr": 1},
    ranges={
        "phq9": (0.0, 27.0),
        "gad7": (0.0, 21.0),
        "ors": (0.0, 40.0),
        "srs": (0.0, 40.0),
        "wai-sr": (12.0, 60.0),
    },
)
EPOCH = dt.date(1970, 1, 1).toordinal()


@dataclass(frozen=True)
class Row:
    """One administration as a test writes it."""

    session: int
    date: str | None
    measure: str
    score: float
    rater: str = "client"
    rci: float = math.nan
    deteriorated: bool = False
    rupture: bool = False
    repair: bool = False
    episode: int = 0


def _day(date: str | None) -> float:
    return math.nan if date is None else float(dt.date.fromisoformat(date).toordinal() - EPOCH)


def _columns(rows: list[Row]) -> SessionRows:
    rows = sorted(rows, key=lambda r: r.episode)  # stable: sessions stay in the given order
    return SessionRows(
        episode=np.array([r.episode for r in rows], dtype=np.int64),
        session=np.array([r.session for r in rows], dtype=np.int64),
        day=np.array([_day(r.date) for r in rows]),
        measure=np.array([MEASURES.index(r.measure) for r in rows], dtype=np.int64),
        measures=MEASURES,
        client_rated=np.array([r.rater == "client" for r in rows], dtype=np.bool_),
        score=np.array([r.score for r in rows], dtype=np.float64),
        rci=np.array([r.rci for r in rows], dtype=np.float64),
        deteriorated=np.array([r.deteriorated for r in rows], dtype=np.bool_),
        rupture=np.array([r.rupture for r in rows], dtype=np.bool_),
        repair=np.array([r.repair for r in rows], dtype=np.bool_),
    )


def _features(*rows: Row) -> SessionFeatures:
    return features_of(_columns(list(rows)), FACTS)


def _column(f: SessionFeatures, name: str) -> list[float]:
    return f.column(name).tolist()


def test_features_of_a_hand_made_episode_follow_their_definitions() -> None:
    # The episode of test_dropout.py, whose values the earlier Ibis expressions gave.
    f = _features(
        Row(1, "2026-01-05", "phq9", 18, rci=0.0),
        Row(1, "2026-01-05", "srs", 30),
        Row(2, "2026-01-12", "phq9", 16, rci=-0.7),
        Row(2, "2026-01-12", "srs", 34),
        Row(3, "2026-02-02", "srs", 26, rupture=True),
        Row(4, "2026-02-09", "phq9", 24, rci=2.1, deteriorated=True),
        Row(4, "2026-02-09", "gad7", 10, rci=0.0),
    )
    assert f.session.tolist() == [1, 2, 3, 4]
    assert _column(f, "session") == [1, 2, 3, 4]
    assert _column(f, "days_since_previous") == [0.0, 7.0, 21.0, 7.0]
    assert _column(f, "days_missing") == [1, 0, 0, 0]
    assert _column(f, "long_gaps") == [0, 0, 1, 1]
    # PHQ-9 falls 18 → 16 (an improvement of 2), then rises to 24; lower is better.
    assert _column(f, "outcome_change") == [0.0, 2.0, 2.0, -6.0]
    assert _column(f, "outcome_rci") == pytest.approx([0.0, 0.7, 0.7, -2.1])
    assert _column(f, "deteriorated") == [0, 0, 0, 1]
    # SRS 30, 34, 26 of 40; the early alliance is the mean of the first two ratings.
    assert _column(f, "alliance_early") == pytest.approx([0.75, 0.8, 0.8, 0.8])
    assert _column(f, "alliance_now") == pytest.approx([0.75, 0.85, 0.65, 0.65])
    assert _column(f, "alliance_change") == pytest.approx([0.0, 0.1, -0.2, -0.2])
    assert _column(f, "alliance_vs_mean")[2] == pytest.approx(0.65 - 0.75)
    assert _column(f, "ruptures") == [0, 0, 1, 1]
    assert _column(f, "unrepaired_rupture") == [0, 0, 1, 1]
    assert f.values.shape == (4, len(FEATURES))


def test_sessions_are_those_with_any_score_sorted_whatever_the_order_of_rows() -> None:
    f = _features(
        Row(8, None, "notes", 1.0, episode=1),  # a measure of no known kind still makes a session
        Row(3, None, "srs", 20, rater="clinician", episode=1),  # so does a clinician's rating
        Row(2, None, "phq9", 10, episode=1),
        Row(5, "2026-03-01", "phq9", math.nan, episode=1),  # an unscored row makes none
        Row(1, None, "phq9", 12, episode=0),
    )
    assert f.episode.tolist() == [0, 1, 1, 1]
    assert f.session.tolist() == [1, 2, 3, 8]
    # The clinician's rating is no client alliance, and the session has no outcome row.
    assert _column(f, "alliance_missing") == [1, 1, 1, 1]
    assert _column(f, "outcome_change") == [0.0, 0.0, 0.0, 0.0]
    assert _column(f, "outcome_missing") == [0, 0, 0, 0]


def test_days_need_dates_on_both_sessions_and_a_sessions_date_is_its_earliest() -> None:
    f = _features(
        Row(1, "2026-01-05", "phq9", 10),
        Row(2, "2026-01-12", "phq9", 10),
        Row(2, "2026-01-10", "srs", 30),  # the session's date is its earliest: Jan 10
        Row(3, None, "phq9", 10),
        Row(4, "2026-01-31", "phq9", 10),  # the previous session has no date: unknown
        Row(5, "2026-02-15", "phq9", 10),  # 15 days: a long gap
        Row(6, "2026-03-01", "phq9", 10),  # 14 days: not a long gap
    )
    assert _column(f, "days_since_previous") == [0.0, 5.0, 0.0, 0.0, 15.0, 14.0]
    assert _column(f, "days_missing") == [1, 0, 1, 1, 0, 0]
    assert _column(f, "long_gaps") == [0, 0, 0, 0, 1, 1]
    assert f.day[1] == _day("2026-01-10")
    assert math.isnan(f.day[2])


def test_the_primary_outcome_is_the_series_with_most_rows_so_far_then_the_earliest() -> None:
    f = _features(
        Row(1, None, "phq9", 20, rci=0.0),
        Row(2, None, "phq9", 18, rci=-0.5),
        Row(2, None, "gad7", 10, rci=0.0),
        Row(3, None, "gad7", 8, rci=-0.8),  # two rows each: PHQ-9 started first, carried
        Row(4, None, "gad7", 9, rci=-0.3),  # GAD-7 has three
    )
    assert _column(f, "outcome_change") == [0.0, 2.0, 2.0, 1.0]
    assert _column(f, "outcome_rci") == pytest.approx([0.0, 0.5, 0.5, 0.3])


def test_ties_between_outcome_series_go_to_the_measure_name_then_to_the_client() -> None:
    names = _features(
        Row(1, None, "phq9", 20),
        Row(1, None, "gad7", 10),
        Row(2, None, "phq9", 10),
        Row(2, None, "gad7", 12),
    )
    assert _column(names, "outcome_change") == [0.0, -2.0]  # GAD-7 before PHQ-9
    raters = _features(
        Row(1, None, "phq9", 20, rater="clinician"),
        Row(1, None, "phq9", 20),
        Row(2, None, "phq9", 10, rater="clinician"),
        Row(2, None, "phq9", 22),
    )
    assert _column(raters, "outcome_change") == [0.0, -2.0]  # "client" before "clinician"


def test_a_clinicians_outcome_rows_count_for_the_primary_series_and_deterioration() -> None:
    f = _features(
        Row(1, None, "phq9", 20, rater="clinician"),
        Row(2, None, "phq9", 24, rater="clinician", deteriorated=True),
        Row(2, None, "phq9", 15),
    )
    assert _column(f, "outcome_change") == [0.0, -4.0]
    assert _column(f, "deteriorated") == [0, 1]


def test_deterioration_counts_on_scored_outcome_rows_only_and_stays() -> None:
    f = _features(
        Row(1, None, "srs", 30, deteriorated=True),
        Row(2, None, "phq9", math.nan, deteriorated=True),
        Row(2, None, "gad7", 9),
        Row(3, None, "ors", 20, deteriorated=True),
        Row(4, None, "gad7", 9),
    )
    assert _column(f, "deteriorated") == [0, 0, 1, 1]


def test_rci_is_that_of_the_primary_series_latest_row_even_when_it_has_none() -> None:
    f = _features(
        Row(1, None, "srs", 30),
        Row(2, None, "ors", 20, rci=0.0),  # higher is better: signs stay
        Row(3, None, "ors", 26, rci=1.5),
        Row(4, None, "ors", 30),  # no RCI on the latest row, though the earlier had one
    )
    assert _column(f, "outcome_change") == [0.0, 0.0, 6.0, 10.0]
    assert _column(f, "outcome_missing") == [1, 0, 0, 0]
    assert _column(f, "outcome_rci") == [0.0, 0.0, 1.5, 0.0]
    assert _column(f, "rci_missing") == [1, 0, 0, 1]


def test_alliance_is_the_clients_share_of_each_range_averaged_over_the_sessions_measures() -> None:
    f = _features(
        Row(1, None, "srs", 30),  # 30 of 0–40: 0.75
        Row(1, None, "wai-sr", 36),  # 36 of 12–60: 0.5
        Row(1, None, "srs", 10, rater="clinician"),  # not the client's
        Row(2, None, "phq9", 10),  # no rating: the latest is carried
        Row(3, None, "srs", 34),
        Row(4, None, "bare-alliance", 0.6),  # no known range: the score itself
    )
    assert _column(f, "alliance_now") == pytest.approx([0.625, 0.625, 0.85, 0.6])
    assert _column(f, "alliance_missing") == [0, 0, 0, 0]
    early = (0.625 + 0.85) / 2
    assert _column(f, "alliance_early") == pytest.approx([0.625, 0.625, early, early])
    assert _column(f, "alliance_change") == pytest.approx([0.0, 0.0, 0.225, -0.25])
    mean = (0.625 + 0.85 + 0.6) / 3
    assert _column(f, "alliance_vs_mean") == pytest.approx([0.0, 0.0, 0.85 - early, 0.6 - mean])


def test_a_rupture_is_unrepaired_until_a_repair_in_its_session_or_later() -> None:
    f = _features(
        Row(1, None, "srs", 20, rupture=True),
        Row(1, None, "wai-sr", 30, rupture=True),  # one session, one rupture
        Row(2, None, "srs", 30, rupture=True, repair=True),  # repaired in its own session
        Row(3, None, "srs", 20, rupture=True),
        Row(4, None, "srs", 30, repair=True),
        Row(5, None, "srs", 20, rater="clinician", rupture=True),  # not the client's
        Row(5, None, "srs", math.nan, rupture=True),  # not scored
        Row(5, None, "phq9", 10, rupture=True),  # not an alliance row
        Row(6, None, "phq9", 10),
    )
    assert _column(f, "ruptures") == [1, 2, 3, 3, 3, 3]
    assert _column(f, "unrepaired_rupture") == [1, 0, 1, 0, 0, 0]


def test_no_scored_rows_give_no_features() -> None:
    f = _features(Row(1, "2026-01-05", "phq9", math.nan))
    assert f.values.shape == (0, len(FEATURES))
    assert _features().values.shape == (0, len(FEATURES))


def test_column_names_the_features_when_asked_for_another() -> None:
    with pytest.raises(KeyError, match="'shoe_size' is not a dropout feature"):
        _features(Row(1, None, "phq9", 10)).column("shoe_size")


def test_training_rows_are_the_sessions_of_completed_episodes_with_their_label() -> None:
    f = _features(*(Row(s, None, "phq9", 10, episode=e) for e in range(4) for s in (1, 2)))
    rows = training_rows_of(f, ["dropout", "ongoing", "planned", ""])
    assert rows.episode.tolist() == [0, 0, 2, 2]
    assert rows.dropout.tolist() == [1, 1, 0, 0]
    assert rows.features.session.tolist() == [1, 2, 1, 2]
    assert rows.features.values.shape == (4, len(FEATURES))
    labels = dropout_labels(np.array(["planned", None, "dropout"], dtype=object))
    assert labels.tolist() == [0, -1, 1]
    with pytest.raises(ValueError, match="endings are given for 3 episodes"):
        training_rows_of(f, ["dropout", "ongoing", "planned"])


# --- Every rule at once: a simulated practice against a plain loop over each episode ---------

OUTCOMES = (("phq9", 0, 27), ("gad7", 0, 21), ("ors", 0, 40))
ALLIANCES = (("srs", 0, 40), ("wai-sr", 12, 60), ("bare-alliance", 0, 1))


def _practice(n: int, seed: int) -> SessionRows:
    """Episodes of weekly sessions with skipped weeks and numbers, measures started late, both
    raters, missing dates, scores and RCIs, and the change and alliance marks at random."""
    rng = np.random.default_rng(seed)
    rows: list[Row] = []
    for e in range(n):
        sessions = np.cumsum(1 + (rng.random(rng.integers(1, 25)) < 0.1))
        days = 20_000 + rng.integers(0, 50) + np.cumsum(7 * (1 + rng.poisson(0.3, len(sessions))))
        undated = rng.random(len(sessions)) < 0.1
        given: list[tuple[str, int, int, str, int, float]] = []
        for name, low, high in OUTCOMES + ALLIANCES:
            for rater in ("client", "clinician"):
                if rng.random() < (0.7 if rater == "client" else 0.25):
                    start = int(rng.integers(0, len(sessions)))
                    given.append((name, low, high, rater, start, rng.uniform(0.3, 1.0)))
        given.append(("notes", 0, 1, "client", 0, 0.1))
        episode_rows: list[Row] = []
        for k, session in enumerate(sessions):
            for name, low, high, rater, start, share in given:
                if k < start or rng.random() > share:
                    continue
                day = None if undated[k] else int(days[k]) + int(rng.random() < 0.05)
                score = float(rng.integers(low, high + 1)) if high > 1 else rng.random()
                episode_rows.append(
                    Row(
                        int(session),
                        None if day is None else dt.date.fromordinal(EPOCH + day).isoformat(),
                        name,
                        math.nan if rng.random() < 0.05 else score,
                        rater=rater,
                        rci=math.nan if rng.random() < 0.15 else float(rng.normal()),
                        deteriorated=bool(rng.random() < 0.05),
                        rupture=bool(rng.random() < 0.1),
                        repair=bool(rng.random() < 0.1),
                        episode=e,
                    )
                )
        rng.shuffle(episode_rows)
        rows += episode_rows
    return _columns(rows)


def _plain(rows: SessionRows, facts: MeasureFacts) -> list[tuple[int, int, list[float]]]:
    """The features by their definitions, one episode and one session at a time."""
    by_episode: dict[int, list[int]] = defaultdict(list)
    for i in range(len(rows.episode)):
        if not math.isnan(rows.score[i]):
            by_episode[int(rows.episode[i])].append(i)
    out = []
    for e in sorted(by_episode):
        mine = by_episode[e]
        sessions = sorted({int(rows.session[i]) for i in mine})
        dates: list[float | None] = []
        for s in sessions:
            known = [
                rows.day[i] for i in mine if rows.session[i] == s and rows.day[i] == rows.day[i]
            ]
            dates.append(min(known) if known else None)
        gaps = 0
        for k, s in enumerate(sessions):
            so_far = [i for i in mine if rows.session[i] <= s]
            f: dict[str, float] = {"session": s}
            before, now = (dates[k - 1] if k else None), dates[k]
            days = None if before is None or now is None else now - before
            gaps += days is not None and days > 14
            f |= {"days_since_previous": days or 0.0, "days_missing": days is None}
            f["long_gaps"] = gaps

            kind = [facts.kinds.get(rows.measures[rows.measure[i]]) for i in so_far]
            outcome = [i for i, kd in zip(so_far, kind, strict=True) if kd == "outcome"]
            series: dict[tuple[str, str], list[int]] = defaultdict(list)
            for i in sorted(outcome, key=lambda i: rows.session[i]):
                rater = "client" if rows.client_rated[i] else "clinician"
                series[rows.measures[rows.measure[i]], rater].append(i)
            change = rci = None
            if series:
                key = min(series, key=lambda k: (-len(series[k]), rows.session[series[k][0]], k))
                sign = facts.signs.get(key[0], 1)
                first, last = series[key][0], series[key][-1]
                change = sign * (rows.score[last] - rows.score[first])
                rci = None if math.isnan(rows.rci[last]) else sign * rows.rci[last]
            f |= {"outcome_change": change or 0.0, "outcome_rci": rci or 0.0}
            f |= {"outcome_missing": change is None, "rci_missing": rci is None}
            f["deteriorated"] = any(rows.deteriorated[i] for i in outcome)

            ratings: dict[int, list[int]] = defaultdict(list)
            for i, kd in zip(so_far, kind, strict=True):
                if kd == "alliance" and rows.client_rated[i]:
                    ratings[int(rows.session[i])].append(i)
            values, ruptured, repaired = [], [], []
            for s_rated in sorted(ratings):
                shares = []
                for i in ratings[s_rated]:
                    low, high = facts.ranges.get(rows.measures[rows.measure[i]], (0.0, 0.0))
                    score = rows.score[i]
                    shares.append((score - low) / (high - low) if high > low else score)
                values.append(sum(shares) / len(shares))
                if any(rows.rupture[i] for i in ratings[s_rated]):
                    ruptured.append(s_rated)
                if any(rows.repair[i] for i in ratings[s_rated]):
                    repaired.append(s_rated)
            if values:
                f["alliance_early"] = sum(values[:2]) / len(values[:2])
                f["alliance_now"] = values[-1]
                f["alliance_change"] = values[-1] - values[-2] if len(values) > 1 else 0.0
                f["alliance_vs_mean"] = values[-1] - sum(values) / len(values)
            else:
                f |= dict.fromkeys(("alliance_early", "alliance_now"), 0.0)
                f |= dict.fromkeys(("alliance_change", "alliance_vs_mean"), 0.0)
            f["alliance_missing"] = not values
            f["ruptures"] = len(ruptured)
            f["unrepaired_rupture"] = bool(ruptured) and (
                not repaired or repaired[-1] < ruptured[-1]
            )
            out.append((e, s, [float(f[name]) for name in FEATURES]))
    return out


@pytest.fixture(scope="module")
def practice() -> SessionRows:
    return _practice(300, seed=3)


def test_features_equal_a_plain_loop_over_each_episodes_sessions(practice: SessionRows) -> None:
    f = features_of(practice, FACTS)
    expected = _plain(practice, FACTS)
    assert list(zip(f.episode.tolist(), f.session.tolist(), strict=True)) == [
        (e, s) for e, s, _ in expected
    ]
    np.testing.assert_allclose(f.values, np.array([v for *_, v in expected]), rtol=0, atol=1e-12)


def _subset(rows: SessionRows, kept: np.ndarray) -> SessionRows:
    return SessionRows(
        **{
            field.name: getattr(rows, field.name)
            if field.name == "measures"
            else getattr(rows, field.name)[kept]
            for field in fields(rows)
        }
    )


def test_an_episodes_features_do_not_depend_on_the_other_episodes_in_the_batch(
    practice: SessionRows,
) -> None:
    batch = features_of(practice, FACTS)
    for e in (0, 7, 150, 299):
        rows = _subset(practice, practice.episode == e)
        alone = features_of(replace(rows, episode=np.zeros_like(rows.episode)), FACTS)
        ours = batch.episode == e
        np.testing.assert_array_equal(alone.values, batch.values[ours])
        np.testing.assert_array_equal(alone.session, batch.session[ours])


def test_later_sessions_never_change_an_earlier_sessions_features(practice: SessionRows) -> None:
    full = features_of(practice, FACTS)
    early = features_of(_subset(practice, practice.session <= 4), FACTS)
    np.testing.assert_array_equal(early.values, full.values[full.session <= 4])


def test_importing_the_features_and_computing_them_loads_no_query_library() -> None:
    code = (
        "import sys, numpy as np\n"
        "from ally.feedback.dropout_features import MeasureFacts, SessionRows, features_of\n"
        "n = np.zeros(2, dtype=np.int64); b = np.zeros(2, dtype=np.bool_)\n"
        "rows = SessionRows(n, n + 1, np.zeros(2), n, ('phq9',), ~b, np.ones(2), np.ones(2),"
        " b, b, b)\n"
        "features_of(rows, MeasureFacts({'phq9': 'outcome'}, {}, {}))\n"
        "print(sorted(m for m in ('ibis', 'pandas', 'pyarrow', 'duckdb') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
