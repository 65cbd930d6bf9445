"""Each episode's results under the practice model, kept up to date in every answer's transaction.

The organisation's practice model (the latest `do_fit_practice_model`, or the measure files'
published values until the first fit) is applied to the episode's answers now in force by
`ally.feedback.results.results`, the function `ally analyze --model` applies to a practice's
whole history. No file, no engine, no child process: one episode takes a few milliseconds, so the
write functions (`do_record_response`, `do_amend_response`, `do_end_episode`) call
`refresh_episode` inside their own transaction, and a page or API read right after sees the new
numbers.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ally.feedback.fit import FitOptions, fit_practice
from ally.feedback.practice import PracticeModel, PracticeModelError, params_of
from ally.feedback.results import ENDINGS, RATERS, Administrations, Results, results
from ally.web import audit
from ally.web.alerts.models import Alert, AlertKind
from ally.web.alerts.texts import english_text
from ally.web.collect import measures
from ally.web.collect.models import Amendment, Respondent, Response
from ally.web.collect.models.responses import opened_answers
from ally.web.monitoring.models import EpisodeFeedback, PracticeModelFit, SessionFeedback
from ally.web.practice.models import EndReason, Episode, Organisation
from ally.web.privacy.keys import KeyRing

log = logging.getLogger(__name__)

RATER_CODES = {Respondent.CLIENT: RATERS.index("client"), Respondent.CLINICIAN: 1}
"""Observer ratings have no place in the practice model yet; they stay in the database."""

ENDING_CODES = {EndReason.PLANNED: ENDINGS.index("planned"), EndReason.DROPOUT: 2}
"""The model knows planned endings and dropouts; a referral or other ending is left unknown."""
ONGOING = ENDINGS.index("ongoing")
EPOCH = dt.date(1970, 1, 1)


# --- The answers in force, as the core's columns --------------------------------------------


@dataclass(frozen=True)
class Scores:
    """The answers in force of one administration and their score, as stored."""

    answers: Mapping[str, float | None]
    total: float
    subscales: Mapping[str, float | None]
    critical: bool | None


@dataclass(frozen=True)
class Answer:
    """One administration's answers now in force, where the practice model reads them."""

    episode_id: int
    client_id: int
    clinician_id: int | None
    session: int
    date: dt.date
    measure_id: str
    rater: int
    current: Scores


def ending_code(episode: Episode) -> int:
    if episode.ended_on is None:
        return ONGOING
    return ENDING_CODES.get(EndReason(episode.end_reason), 0) if episode.end_reason else 0


def answers_of(episode_ids: Sequence[int], *, items: bool = False) -> Iterator[Answer]:
    """Every completed client or clinician administration of these episodes with a session
    number, its latest amendment applied; in no particular order. Read as plain values, not
    model instances: this runs in every answer's request. The item answers themselves only
    with `items` (exports and fits need them, the results do not): they are opened with the
    clients' data keys, read in one query."""
    score_fields: tuple[str, ...] = ("sealed" if items else "measure_id", "measure_id")
    score_fields += ("total", "subscales", "critical")
    rows = (
        Response.objects.filter(
            administration__episode_id__in=episode_ids,
            administration__session__number__isnull=False,
            administration__respondent__in=list(RATER_CODES),
        )
        # A support check only orders the clinician's suggestions (docs/feedback.md).
        .exclude(administration__measure_id__in=measures.outside_practice_model())
        .values_list(
            "pk",
            *score_fields,
            "administration_id",
            "administration__episode_id",
            "administration__respondent",
            "administration__session__number",
            "administration__session__scheduled_at",
            "administration__episode__client_id",
            "administration__episode__clinician_id",
        )
    )
    amended: dict[int, tuple[Any, ...]] = {}
    for found in (
        Amendment.objects.filter(response__administration__episode_id__in=episode_ids)
        .order_by("amended_at", "pk")
        .values_list("response_id", *score_fields, "amended_at")
    ):
        amended[found[0]] = found[1:]  # the latest wins
    rows = list(rows)
    keys = KeyRing(row[-2] for row in rows) if items else None
    for (
        pk,
        *scores,
        administration,
        episode_id,
        respondent,
        number,
        when,
        client,
        clinician,
    ) in rows:
        answers: Mapping[str, float | None] = {}
        if pk in amended:
            sealed, measure_id, total, subscales, critical, amended_at = amended[pk]
            table, place = Amendment._meta.db_table, Amendment.place_of(pk, amended_at)
        else:
            sealed, measure_id, total, subscales, critical = scores
            table, place = Response._meta.db_table, Response.place_of(administration)
        if keys is not None:
            answers = opened_answers(sealed, keys.key(client), table, place)
        yield Answer(
            episode_id=episode_id,
            client_id=client,
            clinician_id=clinician,
            session=number,
            # The session's date: answers given on paper may be entered days later.
            date=timezone.localdate(when),
            measure_id=measure_id,
            rater=RATER_CODES[Respondent(respondent)],
            current=Scores(answers, total, subscales, critical),
        )


@dataclass(frozen=True)
class Columns:
    """The answers of some episodes sorted as the core wants them, with what each row is."""

    administrations: Administrations
    answers: tuple[Answer, ...]
    episode_ids: tuple[int, ...]
    """By episode number."""


def columns_of(episodes: Sequence[Episode], answers: Iterable[Answer]) -> Columns:
    """The core's columns: rows sorted by episode, measure, rater and session."""
    numbers = {e.pk: i for i, e in enumerate(sorted(episodes, key=lambda e: e.pk))}
    endings = {e.pk: ending_code(e) for e in episodes}
    rows = sorted(answers, key=lambda a: (numbers[a.episode_id], a.measure_id, a.rater, a.session))
    measure_ids = tuple(sorted({a.measure_id for a in rows}))
    subscale_ids = sorted({k for a in rows for k in a.current.subscales})
    n = len(rows)
    subscales = {k: np.full(n, np.nan) for k in subscale_ids}
    for i, a in enumerate(rows):
        for k, v in a.current.subscales.items():
            if v is not None:
                subscales[k][i] = v
    administrations = Administrations(
        episode=np.array([numbers[a.episode_id] for a in rows], dtype=np.int64),
        measure=np.array([measure_ids.index(a.measure_id) for a in rows], dtype=np.int64),
        measure_ids=measure_ids,
        rater=np.array([a.rater for a in rows], dtype=np.int64),
        session=np.array([a.session for a in rows], dtype=np.int64),
        day=np.array([(a.date - EPOCH).days for a in rows], dtype=np.float64),
        score=np.array([a.current.total for a in rows], dtype=np.float64),
        subscales=subscales,
        ending=np.array([endings[a.episode_id] for a in rows], dtype=np.int64),
    )
    ids = tuple(sorted(numbers, key=numbers.__getitem__))
    return Columns(administrations, tuple(rows), ids)


# --- The practice model in force -------------------------------------------------------------

_models: dict[int, tuple[int | None, PracticeModel]] = {}
_models_lock = threading.Lock()


def published_model() -> PracticeModel:
    """The model of a practice with no history yet: every measure's published values."""
    key = -1
    with _models_lock:
        if key not in _models:
            _models[key] = (None, fit_model([], {}, "", dropout=False))
        return _models[key][1]


def fit_model(
    episodes: Sequence[Episode],
    items: Mapping[str, np.ndarray],
    fitted_at: str,
    *,
    dropout: bool = True,
    answers: Iterable[Answer] = (),
) -> PracticeModel:
    params = {m.id: params_of(m) for m in measures.library() if m.kind.feeds_practice_model}
    found = columns_of(episodes, answers)
    # A practice with no answers yet has nothing to learn a dropout model from.
    options = FitOptions(fitted_at=fitted_at, dropout=dropout and bool(found.answers))
    return fit_practice(found.administrations, params, options, items=items)


def model_for(organisation_id: int) -> tuple[PracticeModel, PracticeModelFit | None]:
    """The organisation's latest fitted model (with the published values of measures it has no
    history of), or the published values alone before its first fit, or when the stored model
    was made by an Ally that reads models differently (fit it again: `fit_practice`)."""
    fit = (
        PracticeModelFit.objects.filter(organisation_id=organisation_id)
        .only("pk", "fitted_at", "episodes")
        .first()
    )
    if fit is None:
        return published_model(), None
    with _models_lock:
        cached = _models.get(organisation_id)
        if cached is not None and cached[0] == fit.pk:
            return cached[1], fit
    text = PracticeModelFit.objects.values_list("model_json", flat=True).get(pk=fit.pk)
    try:
        model = PracticeModel.from_json(text, "the practice model").with_measures(
            published_model().measures.values()
        )
    except PracticeModelError as exc:
        log.warning("practice model %s cannot be read (%s); published values used", fit.pk, exc)
        return published_model(), None
    with _models_lock:
        _models[organisation_id] = (fit.pk, model)
    return model, fit


def complete_items(answers: Iterable[Answer]) -> dict[str, np.ndarray]:
    """Complete client-rated item answers of measures without a published reliability, for
    Cronbach's alpha (rows x items)."""
    wanted = {
        m.id: len(m.items)
        for m in measures.library()
        if m.reliability is None and m.kind.feeds_practice_model
    }
    found: dict[str, list[list[float]]] = {}
    for a in answers:
        k = wanted.get(a.measure_id)
        if k is None or a.rater != RATERS.index("client") or k < 2:
            continue
        values = [a.current.answers.get(str(i)) for i in range(1, k + 1)]
        if all(v is not None for v in values):
            found.setdefault(a.measure_id, []).append([float(v) for v in values if v is not None])
    return {m: np.array(rows, dtype=np.float64) for m, rows in found.items()}


# --- Storing the results ---------------------------------------------------------------------


@dataclass
class Refreshed:
    """What one refresh did, in counts only (safe to log and to show)."""

    episodes: int = 0
    administrations: int = 0
    session_rows: int = 0
    episode_rows: int = 0
    alerts: list[Alert] = field(default_factory=list)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


Row = dict[str, Any]


def _listed(values: Any) -> list[Any]:
    """A numpy column as Python values, NaN as None."""
    return [None if v != v else v for v in values.tolist()]


def _session_rows(found: Columns, r: Results) -> list[Row]:
    """The fields of each administration's SessionFeedback row, as plain values."""
    s = r.sessions
    text = {name: _listed(getattr(s, name)) for name in SESSION_TEXT}
    numbers = {name: _listed(getattr(s, name)) for name in SESSION_NUMBERS}
    flags = {name: _listed(getattr(s, name)) for name in ("rupture", "repair")}
    rows = []
    for i, a in enumerate(found.answers):
        row: Row = {
            "episode_id": a.episode_id,
            "measure_id": a.measure_id,
            "rater": RATERS[a.rater],
            "session_number": a.session,
            "date": a.date,
            "score": a.current.total,
            "subscales": {k: v for k, v in a.current.subscales.items() if v is not None},
            "critical": a.current.critical,
        }
        row.update({name: _text(values[i]) for name, values in text.items()})
        row.update({name: values[i] for name, values in numbers.items()})
        row.update({name: bool(values[i]) for name, values in flags.items()})
        rows.append(row)
    return rows


SESSION_TEXT = ("band", "reliable_change", "signal", "rupture_subscale", "risk_flags")
SESSION_NUMBERS = (
    "baseline",
    "change",
    "rci",
    "expected",
    "expected_low",
    "expected_high",
    "discrepancy",
    "dropout_risk",
)


def _episode_rows(found: Columns, r: Results) -> list[Row]:
    """The fields of each series' EpisodeFeedback row, as plain values."""
    s = r.series
    columns = {
        name: _listed(getattr(s, name))
        for name in (
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
            "ruptures",
            "repairs",
            "unrepaired",
            "talking_therapies",
        )
    }
    rows = []
    for j, first in enumerate(s.first_row.tolist()):
        a = found.answers[first]
        row: Row = {"episode_id": a.episode_id, "measure_id": a.measure_id}
        row["rater"] = RATERS[a.rater]
        row.update({name: values[j] for name, values in columns.items()})
        for name in ("reliable_change", "category", "talking_therapies"):
            row[name] = _text(row[name])
        for name in ("ruptures", "repairs", "unrepaired"):
            row[name] = row[name] or 0
        rows.append(row)
    return rows


def _store(
    episodes: Sequence[Episode], organisation_id: int, now: dt.datetime, batch: int = 1000
) -> Refreshed:
    model, _ = model_for(organisation_id)
    ids = [e.pk for e in episodes]
    found = columns_of(episodes, answers_of(ids))
    refreshed = Refreshed(episodes=len(ids), administrations=len(found.answers))
    r = results(model, found.administrations)
    sessions, series = _session_rows(found, r), _episode_rows(found, r)
    refreshed.session_rows = _replace(SessionFeedback, SESSION_KEY, ids, sessions, now, batch)
    refreshed.episode_rows = _replace(EpisodeFeedback, EPISODE_KEY, ids, series, now, batch)
    refreshed.alerts = _raise_feedback_alerts({e.pk: e for e in episodes}, sessions, now)
    return refreshed


SESSION_KEY = ("episode_id", "measure_id", "rater", "session_number")
EPISODE_KEY = ("episode_id", "measure_id", "rater")


def _replace(
    model: type[SessionFeedback] | type[EpisodeFeedback],
    key: tuple[str, ...],
    episode_ids: Sequence[int],
    rows: Sequence[Row],
    now: dt.datetime,
    batch: int,
) -> int:
    """Make the stored rows of these episodes equal `rows`, writing only what changed: after a
    new answer that is its own row and its series' summary, not the episode's every row.

    A changed row is deleted and inserted again with its new values (nothing refers to these
    derived rows): two statements for any number of rows, where one UPDATE per row, or
    bulk_update's CASE over every field, costs the ORM milliseconds of compiling each."""
    fields = [
        f.attname
        for f in model._meta.concrete_fields
        if f.attname not in ("id", "computed_at", *key)
    ]
    stored = {
        tuple(found[1 : 1 + len(key)]): found
        for found in model.objects.filter(episode_id__in=episode_ids).values_list(
            "pk", *key, *fields
        )
    }
    written, gone = [], []
    for row in rows:
        before = stored.pop(tuple(row[k] for k in key), None)
        if before is not None:
            values = before[1 + len(key) :]
            if all(old == row[f] for f, old in zip(fields, values, strict=True)):
                continue
            gone.append(before[0])
        written.append(model(**row, computed_at=now))
    gone += [found[0] for found in stored.values()]
    if gone:
        model.objects.filter(pk__in=gone).delete()
    model.objects.bulk_create(written, batch_size=batch)
    return len(rows)


def refresh_episode(episode: Episode, now: dt.datetime | None = None) -> Refreshed | None:
    """Replace the episode's results with the practice model's view of its current answers and
    raise the alerts they call for, inside the caller's transaction (a write function's), so an
    answer and its results are stored together.

    A fault here must not cost a client their answer: it is rolled back alone, logged by kind
    only (its message may quote data), and None returned; the next answer or `ally manage
    refresh_feedback` redoes it.
    """
    try:
        with transaction.atomic():
            # Two answers of one episode take turns here: the second reads the first's answer.
            Episode.objects.select_for_update().filter(pk=episode.pk).values_list("pk").first()
            return _store([episode], episode.organisation_id, now or timezone.now())
    except Exception as exc:
        log.warning("results of episode %s not refreshed (%s)", episode.pk, type(exc).__name__)
        return None


def refresh_organisation(organisation: Organisation, now: dt.datetime | None = None) -> Refreshed:
    """Every episode of the organisation under its current model, a few hundred at a time."""
    now = now or timezone.now()
    total = Refreshed()
    episodes = list(Episode.objects.filter(organisation=organisation).order_by("pk"))
    for start in range(0, len(episodes), 500):
        with transaction.atomic():
            chosen = episodes[start : start + 500]
            list(
                Episode.objects.select_for_update()
                .filter(pk__in=[e.pk for e in chosen])
                .values_list("pk")
            )
            part = _store(chosen, organisation.pk, now)
        total.episodes += part.episodes
        total.administrations += part.administrations
        total.session_rows += part.session_rows
        total.episode_rows += part.episode_rows
        total.alerts += part.alerts
    log.info(
        "results refreshed: %d episodes, %d administrations, %d alerts",
        total.episodes,
        total.administrations,
        len(total.alerts),
    )
    return total


# --- Alerts ----------------------------------------------------------------------------------


def _latest(rows: Iterable[Row]) -> dict[tuple[int, str, str], Row]:
    latest: dict[tuple[int, str, str], Row] = {}
    for row in rows:
        key = (row["episode_id"], row["measure_id"], row["rater"])
        if key not in latest or row["session_number"] > latest[key]["session_number"]:
            latest[key] = row
    return latest


def _raise_feedback_alerts(
    episodes: Mapping[int, Episode], rows: Iterable[Row], now: Any
) -> list[Alert]:
    """Alerts for what the latest administration of each measure shows; each raised once."""
    wanted: list[tuple[int, str, str, dict[str, Any]]] = []
    threshold = settings.ALLY_DROPOUT_ALERT
    for (episode_id, measure, rater), row in _latest(rows).items():
        if episodes[episode_id].ended_on is not None:
            continue
        session, risk = row["session_number"], row["dropout_risk"]
        key = f"{measure}:{rater}:{session}"
        details: dict[str, Any] = {"measure": measure, "session": session}
        if row["signal"] == "red":
            wanted.append((episode_id, str(AlertKind.SIGNAL_RED), key, details))
        if row["rupture"]:
            subscale = {"subscale": row["rupture_subscale"]} if row["rupture_subscale"] else {}
            wanted.append((episode_id, str(AlertKind.RUPTURE), key, details | subscale))
        if risk is not None and risk >= threshold:
            risky = {"session": session, "risk": risk}
            wanted.append((episode_id, str(AlertKind.DROPOUT_RISK), f"dropout:{session}", risky))
    if not wanted:
        return []
    alerts = Alert.objects.filter(episode_id__in={w[0] for w in wanted})
    existing = set(alerts.values_list("episode_id", "kind", "source_key"))
    # While an alert on the same measure is still open, a later session adds no second one.
    open_topics = {
        (episode_id, kind, _topic(key))
        for episode_id, kind, key in alerts.filter(acted_at__isnull=True).values_list(
            "episode_id", "kind", "source_key"
        )
    }
    raised = []
    for episode_id, kind, key, details in wanted:
        topic = (episode_id, kind, _topic(key))
        if (episode_id, kind, key) in existing or topic in open_topics:
            continue
        existing.add((episode_id, kind, key))
        open_topics.add(topic)
        alert = Alert.objects.create(
            episode_id=episode_id,
            kind=kind,
            source_key=key,
            message=english_text(kind, details),
            details=details,
            raised_at=now,
        )
        audit.record("alert.raised", actor=None, target=alert)
        raised.append(alert)
    return raised


def _topic(source_key: str) -> str:
    """What a feedback alert is about: its measure and rater, or the dropout risk."""
    return source_key.rsplit(":", 1)[0]
