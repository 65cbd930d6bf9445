"""A client's own copy of their data (GDPR Art. 15 and 20): one ZIP with a page they can read
and the same data as JSON for another service.

The page is self-contained (its style inside, no script, nothing fetched), so it opens from the
ZIP on any device. Questions are shown in words only where the measure's licence lets Ally ship
its text; otherwise the page gives the item numbers and the answers.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any, cast

from django.db import transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import get_language

from ally.measures.schema import Measure, Options
from ally.web import audit
from ally.web.alerts.models import Alert
from ally.web.clinic.course import measure_name
from ally.web.clinic.labels import (
    ALERT_WORDS,
    END_REASON_WORDS,
    FORM_STATUS_WORDS,
    RESPONDENT_WORDS,
    SESSION_STATUS_WORDS,
    TIMING_WORDS,
    word,
)
from ally.web.collect import measures
from ally.web.collect.models import Administration
from ally.web.collect.models.responses import ScoredAnswers
from ally.web.endings.summary import export_ending
from ally.web.goals.course import export_goals
from ally.web.ipr.export import export_recall
from ally.web.practice.models import Client, ClientIdentity, Episode, Membership, Session
from ally.web.privacy.keys import DataKey, KeyRing
from ally.web.privacy.when import iso
from ally.web.respond.forms import text_in
from ally.web.scoping import scoped

FORMAT = "ally-client-export"
VERSION = 1


def file_name(client: Client) -> str:
    """The download's name: the client's key only, nothing that identifies them."""
    return f"ally-export-{client.pk}.zip"


def _rows(rows: Any, membership: Membership | None) -> QuerySet[Any]:
    """What the member may see; everything of the client for a command run on the server."""
    queryset = cast(Any, rows)._default_manager.all() if isinstance(rows, type) else rows
    return scoped(queryset, membership) if membership is not None else queryset


def _measure(measure_id: str) -> Measure | None:
    try:
        return measures.measure(measure_id)
    except KeyError:
        return None


def _text_allowed(measure: Measure | None) -> bool:
    return measure is not None and measure.licence.text_may_ship and measures.has_text(measure)


def _answers(scored: ScoredAnswers, measure: Measure | None, key: DataKey) -> list[dict[str, Any]]:
    with_text = _text_allowed(measure)
    items = []
    answers = scored.open_answers(key)
    for number_text, value in sorted(answers.items(), key=lambda kv: int(kv[0])):
        number = int(number_text)
        question = label = None
        if with_text and measure is not None and number <= len(measure.items):
            item = measure.item(number)
            question = text_in(item.text)[0] or None
            response = measure.response_of(item)
            if isinstance(response, Options) and value is not None:
                labels = {o.value: text_in(o.label)[0] for o in response.options}
                label = labels.get(value) or None
        items.append({"item": number, "question": question, "answer": value, "label": label})
    return items


def _scored(scored: ScoredAnswers, measure: Measure | None, key: DataKey) -> dict[str, Any]:
    return {
        "answers": _answers(scored, measure, key),
        "total": scored.total,
        "subscales": scored.subscales,
        "band": scored.band,
        "items_answered": scored.answered,
        "prorated": scored.prorated,
    }


def _questionnaire(
    administration: Administration, sessions: dict[int, int | None], keys: KeyRing
) -> dict[str, Any]:
    measure = _measure(administration.measure_id)
    entry: dict[str, Any] = {
        "measure": administration.measure_id,
        "measure_name": measure_name(administration.measure_id),
        "version": administration.measure_version,
        "session": sessions.get(administration.session_id or 0),
        "respondent": administration.respondent,
        "respondent_text": word(RESPONDENT_WORDS, administration.respondent),
        "timing": administration.timing,
        "timing_text": word(TIMING_WORDS, administration.timing) if administration.timing else "",
        "status": administration.status,
        "status_text": word(FORM_STATUS_WORDS, administration.status),
        "created_at": iso(administration.created_at),
        "sent_at": iso(administration.sent_at),
        "opened_at": iso(administration.opened_at),
        "completed_at": iso(administration.completed_at),
        "expired_at": iso(administration.expired_at),
        "question_text_included": _text_allowed(measure),
        "licence": measure.licence.name if measure else "",
        "attribution": measure.licence.attribution if measure else "",
        "response": None,
    }
    note = getattr(administration, "check_in_note", None)
    if note is not None:
        # What the client wrote with a group check-in (ally.web.groups).
        text = note.words(keys.key(administration.episode.client_id))["text"]
        entry["note"] = {"text": text, "written_at": iso(note.written_at)}
    response = getattr(administration, "response", None)
    if response is not None:
        key = keys.key(administration.episode.client_id)
        entry["response"] = {
            "recorded_at": iso(response.recorded_at),
            **_scored(response, measure, key),
            "corrections": [
                {
                    "amended_at": iso(a.amended_at),
                    "reason": a.open_reason(key),
                    **_scored(a, measure, key),
                }
                for a in response.amendments.order_by("amended_at", "pk")
            ],
        }
    return entry


def _alert(alert: Alert) -> dict[str, Any]:
    return {
        "kind": alert.kind,
        "kind_text": word(ALERT_WORDS, alert.kind),
        "message": alert.message,
        "raised_at": iso(alert.raised_at),
        "seen_at": iso(alert.seen_at),
        "acted_at": iso(alert.acted_at),
        "action_note": alert.note,
    }


def _episode(episode: Episode, membership: Membership | None, keys: KeyRing) -> dict[str, Any]:
    sessions = list(_rows(Session, membership).filter(episode=episode).order_by("number", "pk"))
    numbers: dict[int, int | None] = {s.pk: s.number for s in sessions}
    forms = (
        _rows(Administration, membership)
        .filter(episode=episode)
        .select_related("episode", "response", "check_in_note")
        .order_by("created_at", "pk")
    )
    alerts = _rows(Alert, membership).filter(episode=episode).order_by("raised_at", "pk")
    return {
        "opened_on": iso(episode.opened_on),
        "ended_on": iso(episode.ended_on),
        "end_reason": episode.end_reason,
        "end_reason_text": word(END_REASON_WORDS, episode.end_reason) if episode.end_reason else "",
        "sessions": [
            {
                "number": s.number,
                "scheduled_at": iso(s.scheduled_at),
                "status": s.status,
                "status_text": word(SESSION_STATUS_WORDS, s.status),
            }
            for s in sessions
        ],
        "questionnaires": [_questionnaire(a, numbers, keys) for a in forms],
        "groups": [
            {
                "group": place.group.label,
                "joined_on": iso(place.joined_on),
                "left_on": iso(place.left_on),
            }
            for place in episode.group_places.select_related("group").order_by("joined_on", "pk")
        ],
        "alerts": [_alert(a) for a in alerts],
        **export_goals(membership, episode),
        **export_ending(membership, episode),
        **export_recall(membership, episode),
    }


def client_data(client: Client, membership: Membership | None) -> dict[str, Any]:
    """Everything Ally holds about the client that `membership` may see (None: everything)."""
    identity = _rows(ClientIdentity, membership).filter(client=client).first()
    episodes = _rows(Episode, membership).filter(client=client).order_by("opened_on", "pk")
    keys = KeyRing([client.pk])  # the client's data key, read once for every answer
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": timezone.now().isoformat(),
        "language": get_language() or "en",
        "practice": client.organisation.name,
        "client": {
            "code": client.code,
            "name": identity.name if identity else "",
            "email": identity.email if identity else "",
            "phone": identity.phone if identity else "",
            "registered_at": iso(client.created_at),
        },
        "episodes": [_episode(e, membership, keys) for e in episodes],
    }


def export_client(client: Client, *, membership: Membership | None) -> bytes:
    """The ZIP of the client's page and JSON; the export is audited (keys only)."""
    data = client_data(client, membership)
    page = render_to_string("privacy/export.html", {"data": data})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("client.html", page)
        archive.writestr("client.json", json.dumps(data, indent=2, ensure_ascii=False))
    with transaction.atomic():
        audit.record("client.exported", actor=membership, target=client)
    return buffer.getvalue()
