"""Recompute the engine's feedback for episodes: the app runs `ally analyze` on its own answers.

The episodes' current answers (amendments applied) are written in the engine's long input format,
analysed by `ally.engine.analyze` exactly as a batch run would, and the `sessions` and `episodes`
outputs replace the episodes' stored rows. So a number on a screen is the number a researcher gets
from `ally analyze` on an export of the same answers.

Rows go to the engine under numeric keys only (client and episode primary keys): no names, codes
or free text leave the database, and the temporary folder is removed afterwards.

One difference from a practice-wide batch run: values the engine estimates from the whole input
(Cronbach's alpha of a measure without a published reliability) need at least 30 clients, so a
refresh of one episode leaves them out; `refresh_organisation` analyses every episode at once.
"""

from __future__ import annotations

import csv
import logging
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from ally.engine import columns as col
from ally.engine.analyze import analyze
from ally.engine.options import Options
from ally.web import audit
from ally.web.alerts.models import Alert, AlertKind
from ally.web.collect.models import Amendment, Respondent, Response
from ally.web.collect.models.responses import ScoredAnswers
from ally.web.feedback.models import EpisodeFeedback, PendingRefresh, SessionFeedback
from ally.web.practice.models import EndReason, Episode, Organisation

log = logging.getLogger(__name__)

ENGINE_RATERS = {Respondent.CLIENT: "client", Respondent.CLINICIAN: "clinician"}
"""Observer ratings have no place in the engine's analyses yet; they stay in the database."""

ENDINGS = {EndReason.PLANNED: "planned", EndReason.DROPOUT: "dropout"}
"""The engine knows planned endings and dropouts; a referral or other ending is left unknown."""


@dataclass
class Refreshed:
    """What one refresh did, in counts only (safe to log and to show)."""

    episodes: int = 0
    administrations: int = 0
    session_rows: int = 0
    episode_rows: int = 0
    left_out: int = 0
    """Administrations the engine could not use (no session number, an observer's rating)."""
    alerts: list[Alert] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _ending(episode: Episode) -> str:
    if episode.ended_on is None:
        return "ongoing"
    return ENDINGS.get(EndReason(episode.end_reason), "") if episode.end_reason else ""


def engine_rows(episodes: Iterable[Episode], refreshed: Refreshed) -> Iterator[dict[str, Any]]:
    """One input row per completed administration, with the answers now in force."""
    ids = [episode.pk for episode in episodes]
    responses = (
        Response.objects.filter(administration__episode_id__in=ids)
        .select_related("administration__session", "administration__episode")
        .prefetch_related(
            Prefetch("amendments", queryset=Amendment.objects.order_by("-amended_at", "-pk"))
        )
        .order_by("administration__episode_id", "pk")
    )
    for response in responses:
        administration = response.administration
        session = administration.session
        rater = ENGINE_RATERS.get(Respondent(administration.respondent))
        if session is None or session.number is None or rater is None:
            refreshed.left_out += 1
            continue
        amendments = list(response.amendments.all())
        current: ScoredAnswers = amendments[0] if amendments else response
        episode = administration.episode
        row: dict[str, Any] = {
            col.CLIENT: episode.client_id,
            col.EPISODE: episode.pk,
            col.CLINICIAN: episode.clinician_id,
            col.SESSION: session.number,
            # The session's date: answers given on paper may be entered days later.
            col.DATE: timezone.localdate(session.scheduled_at).isoformat(),
            col.MEASURE: current.measure_id,
            col.RATER: rater,
            col.ENDING: _ending(episode),
        }
        for number, value in current.answers.items():
            row[col.item_column(int(number))] = "" if value is None else value
        refreshed.administrations += 1
        yield row


def _write_input(rows: Iterable[Mapping[str, Any]], path: Path) -> int:
    rows = list(rows)
    items = sorted(
        {name for row in rows for name in row if col.ITEM.match(name)},
        key=lambda name: int(name[4:]),
    )
    header = [col.CLIENT, col.EPISODE, col.CLINICIAN, col.SESSION, col.DATE, col.MEASURE]
    header += [col.RATER, *items, col.ENDING]
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=header, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def _number(text: str) -> float | None:
    return float(text) if text not in ("", None) else None


def _flag(text: str) -> bool | None:
    return {"true": True, "false": False}.get(text.lower()) if text else None


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as source:
        return list(csv.DictReader(source))


def _session_row(row: Mapping[str, str], now: Any) -> SessionFeedback:
    subscales = {
        name.removeprefix("subscale_"): value
        for name, text in row.items()
        if name.startswith("subscale_") and (value := _number(text)) is not None
    }
    return SessionFeedback(
        episode_id=int(row[col.EPISODE]),
        measure_id=row[col.MEASURE],
        rater=row[col.RATER],
        session_number=int(row[col.SESSION]),
        date=row[col.DATE] or None,
        score=float(row[col.SCORE]),
        subscales=subscales,
        band=row["band"],
        baseline=_number(row["baseline"]),
        change=_number(row["change"]),
        rci=_number(row["rci"]),
        reliable_change=row["reliable_change"],
        critical=_flag(row["critical"]),
        expected=_number(row["expected"]),
        expected_low=_number(row["expected_low"]),
        expected_high=_number(row["expected_high"]),
        signal=row["signal"],
        rupture=bool(_flag(row["rupture"])),
        repair=bool(_flag(row["repair"])),
        rupture_subscale=row["rupture_subscale"],
        discrepancy=_number(row["discrepancy"]),
        risk_flags=row["risk_flags"],
        dropout_risk=_number(row["dropout_risk"]),
        computed_at=now,
    )


def _episode_row(row: Mapping[str, str], now: Any) -> EpisodeFeedback:
    return EpisodeFeedback(
        episode_id=int(row[col.EPISODE]),
        measure_id=row[col.MEASURE],
        rater=row[col.RATER],
        sessions=int(row["sessions"]),
        first_session=int(row["first_session"]),
        last_session=int(row["last_session"]),
        first_score=float(row["first_score"]),
        last_score=float(row["last_score"]),
        change=_number(row["change"]),
        rci=_number(row["rci"]),
        reliable_change=row["reliable_change"],
        category=row["category"],
        sudden_gains=int(row["sudden_gains"] or 0),
        sudden_losses=int(row["sudden_losses"] or 0),
        ruptures=int(row["ruptures"] or 0),
        repairs=int(row["repairs"] or 0),
        unrepaired=int(row["unrepaired"] or 0),
        computed_at=now,
    )


def _options(folder: Path) -> Options:
    etr = tuple(Path(p) for p in getattr(settings, "ALLY_ETR_MODELS", ()))
    dropout = getattr(settings, "ALLY_DROPOUT_MODEL", None)
    return Options(
        input=folder / "input.csv",
        out=folder / "out",
        etr_models=etr,
        dropout_model=Path(dropout) if dropout else None,
        threads=1,
        memory_limit="500MB",
        progress=False,
    )


def refresh_feedback(episodes: QuerySet[Episode]) -> Refreshed:
    """Analyse these episodes with the engine and replace their stored feedback.

    Alerts for a red signal, a rupture or a high dropout risk at an episode's latest session are
    raised once each. Run outside the transaction that stored an answer: the answer stands even
    if the analysis fails.
    """
    chosen = list(episodes.select_related("client"))
    refreshed = Refreshed(episodes=len(chosen))
    with tempfile.TemporaryDirectory(prefix="ally-feedback-") as name:
        folder = Path(name)
        options = _options(folder)
        written = _write_input(engine_rows(chosen, refreshed), options.input)
        session_rows: list[dict[str, str]] = []
        episode_rows: list[dict[str, str]] = []
        if written:
            summary = analyze(options)
            refreshed.notes = list(summary.notes)
            session_rows = _read(options.out / "sessions.csv")
            episode_rows = _read(options.out / "episodes.csv")
            rejected = _read(options.out / "rejected.csv")
            refreshed.left_out += len(rejected)
    now = timezone.now()
    ids = [episode.pk for episode in chosen]
    with transaction.atomic():
        # Locking the episodes makes two refreshes of one episode take turns.
        list(Episode.objects.select_for_update().filter(pk__in=ids).values_list("pk"))
        SessionFeedback.objects.filter(episode_id__in=ids).delete()
        EpisodeFeedback.objects.filter(episode_id__in=ids).delete()
        stored = SessionFeedback.objects.bulk_create(
            [_session_row(row, now) for row in session_rows], batch_size=1000
        )
        EpisodeFeedback.objects.bulk_create(
            [_episode_row(row, now) for row in episode_rows], batch_size=1000
        )
        refreshed.session_rows, refreshed.episode_rows = len(session_rows), len(episode_rows)
        refreshed.alerts = _raise_feedback_alerts({e.pk: e for e in chosen}, stored, now)
    log.info(
        "feedback refreshed: %d episodes, %d administrations, %d left out, %d alerts",
        refreshed.episodes,
        refreshed.administrations,
        refreshed.left_out,
        len(refreshed.alerts),
    )
    return refreshed


def refresh_organisation(organisation: Organisation) -> Refreshed:
    """Every episode of the organisation in one engine run (practice-wide estimates included)."""
    return refresh_feedback(Episode.objects.filter(organisation=organisation))


SIGNAL_MESSAGE = (
    "{measure}: the score at session {session} is off the expected course (red signal). "
    "Review progress with the client; see the suggestions on the client page."
)
RUPTURE_MESSAGE = (
    "{measure}: the alliance fell at session {session} ({subscale}). "
    "Talk about it openly at the next session; see the suggestions on the client page."
)
DROPOUT_MESSAGE = (
    "Estimated risk of dropping out is {risk:.0%} at session {session}. "
    "Check in on how the sessions fit the client."
)


def _latest(rows: Iterable[SessionFeedback]) -> dict[tuple[int, str, str], SessionFeedback]:
    latest: dict[tuple[int, str, str], SessionFeedback] = {}
    for row in rows:
        key = (row.episode_id, row.measure_id, row.rater)
        if key not in latest or row.session_number > latest[key].session_number:
            latest[key] = row
    return latest


def _raise_feedback_alerts(
    episodes: Mapping[int, Episode], rows: Iterable[SessionFeedback], now: Any
) -> list[Alert]:
    """Alerts for what the latest administration of each measure shows; each raised once."""
    wanted: list[tuple[int, str, str, str]] = []
    threshold = settings.ALLY_DROPOUT_ALERT
    for (episode_id, measure, rater), row in _latest(rows).items():
        if episodes[episode_id].ended_on is not None:
            continue
        key = f"{measure}:{rater}:{row.session_number}"
        if row.signal == "red":
            message = SIGNAL_MESSAGE.format(measure=measure, session=row.session_number)
            wanted.append((episode_id, str(AlertKind.SIGNAL_RED), key, message))
        if row.rupture:
            subscale = row.rupture_subscale or "total"
            message = RUPTURE_MESSAGE.format(
                measure=measure, session=row.session_number, subscale=subscale
            )
            wanted.append((episode_id, str(AlertKind.RUPTURE), key, message))
        if row.dropout_risk is not None and row.dropout_risk >= threshold:
            message = DROPOUT_MESSAGE.format(risk=row.dropout_risk, session=row.session_number)
            wanted.append(
                (episode_id, str(AlertKind.DROPOUT_RISK), f"dropout:{row.session_number}", message)
            )
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
    for episode_id, kind, key, message in wanted:
        topic = (episode_id, kind, _topic(key))
        if (episode_id, kind, key) in existing or topic in open_topics:
            continue
        existing.add((episode_id, kind, key))
        open_topics.add(topic)
        alert = Alert.objects.create(
            episode_id=episode_id,
            kind=kind,
            source_key=key,
            message=message,
            raised_at=now,
        )
        audit.record("alert.raised", actor=None, target=alert)
        raised.append(alert)
    return raised


def _topic(source_key: str) -> str:
    """What a feedback alert is about: its measure and rater, or the dropout risk."""
    return source_key.rsplit(":", 1)[0]


def queue_refresh(episode_id: int) -> None:
    """Ask for the episode's refresh inside the answer's transaction (the "background" and
    "worker" modes; see ally.web.feedback.worker), so that an answer is never stored without it:
    a server killed after the commit leaves the queue row, not a stale chart. A row that cannot
    be written fails the answer's transaction: the client is told to send again, and nothing is
    half-stored. Inline mode queues nothing; `refresh_after_answer` runs the engine instead."""
    from ally.web.feedback import worker

    if worker.mode() == worker.INLINE:
        return
    worker.enqueue(episode_id)
    worker.start_in_background()


def refresh_after_answer(episode_id: int) -> bool:
    """Once the answer's transaction is over: in "inline" mode (tests, installs that answer a
    few forms a day) run the engine now, outside it; False when that failed, and the answer
    stands. The queue modes asked for the refresh already (`queue_refresh`)."""
    from ally.web.feedback import worker

    if worker.mode() != worker.INLINE:
        return True
    return refresh_now(episode_id)


def refresh_now(episode_id: int) -> bool:
    """Refresh one episode's feedback in this request; False when that failed.

    Only the kind of error is logged: an error's message may quote data.
    """
    from ally.web.feedback import worker

    # A queue row is written in its answer's transaction: a row seen now stands for answers this
    # run reads, so the worker need not run for it again unless another answer asks meanwhile.
    queued = list(
        PendingRefresh.objects.filter(episode_id=episode_id).values_list("pk", "requested_at")
    )
    try:
        refresh_feedback(Episode.objects.filter(pk=episode_id))
    except Exception as exc:
        log.warning("feedback refresh failed for episode %s (%s)", episode_id, type(exc).__name__)
        return False
    for pk, requested_at in queued:
        worker.settle(pk, requested_at)
    return True
