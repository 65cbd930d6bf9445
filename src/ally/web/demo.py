"""The demo practice: a practice simulated by `ally simulate`, loaded through Ally's write path.

Every answer goes through `do_record_response`, as a client's would, so the demo's scores,
alerts and feedback are what a real practice would see. Dates are moved so that the latest
session was yesterday; ongoing episodes get their next session with forms sent (some overdue).
Each form is answered, and each alert of the past acted on, at a time of its own around its
session, drawn from the demo's seed: the demo's times read like a practice's, and the same seed
and day give the same demo. Episodes end through `do_end_episode` with their reviews, summaries
and follow-ups (`demo_endings`).
The accounts share one random password, kept in the data folder (demo-logins.txt, mode 0600)
so that `ally serve` can print it again.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import random
import secrets
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from ally.measures import Kind
from ally.simulate import SimulationConfig, simulate
from ally.web.accounts.models import User
from ally.web.actions.alerts import do_act_on_alert
from ally.web.actions.answers import do_create_administration, do_mark_sent, do_record_response
from ally.web.actions.monitoring import do_fit_practice_model
from ally.web.alerts.models import Alert, AlertKind
from ally.web.collect import measures
from ally.web.collect.models import (
    Administration,
    AdministrationStatus,
    MeasurementPlan,
    PlannedMeasure,
    Respondent,
    Timing,
)
from ally.web.demo_endings import Ended, load_endings
from ally.web.demo_goals import load_goals
from ally.web.practice.models import (
    Client,
    ClientIdentity,
    EndReason,
    Episode,
    Membership,
    Organisation,
    Session,
    SessionStatus,
)
from ally.web.scoping import Role

SLUG = "demo"
DOMAIN = "demo.ally.example"
# A practice's crisis contacts are one text that every client reads, whatever their language:
# the demo's says it in English and in German, the two languages of Ally's screens.
CRISIS_CONTACTS = (
    "Demo practice duty line: 0100 000 000 (weekdays 9-17).\n"
    "Outside these hours: your local emergency number, or a crisis line such as Samaritans "
    "(116 123 in the UK and Ireland).\n"
    "Bereitschaftstelefon der Demo-Praxis: 0100 000 000 (werktags 9–17 Uhr).\n"
    "Außerhalb dieser Zeiten: Notruf 112, oder die TelefonSeelsorge "
    "(0800 111 0 111, kostenfrei, rund um die Uhr)."
)
ERASURE_POLICY = (
    "Demo policy. Clinical records, questionnaire answers included, are kept for 10 years after "
    "the last session, as the law on health records requires: a request for erasure within that "
    "time is refused on GDPR Art. 17(3)(b), with the reason recorded and the client told. After "
    "that time, or when no such duty applies, the client is erased on request."
)
ONGOING_SHARE = 0.4
GROUP_SHARE = 0.3
"""Enough group members for two or three groups among the demo's episodes."""
GROUP_FORMS = {"ally-alliance"}
"""Group members answer the group check-in after each meeting instead of the individual one."""
HISTORY_NOTE = {
    AlertKind.CRITICAL_ITEM: "Asked at the session; risk assessed and safety plan reviewed.",
    AlertKind.CRITICAL_UNANSWERED: "Asked in person at the session.",
    AlertKind.SIGNAL_RED: "Reviewed goals and approach with the client.",
    AlertKind.RUPTURE: "Talked about it at the next session.",
    AlertKind.DROPOUT_RISK: "Checked in with the client.",
}
TIMING = {"phq9": Timing.BEFORE, "gad7": Timing.BEFORE, "core10": Timing.BEFORE}
"""Outcome measures before the session; the alliance check-in after it."""
SESSION_HOUR = 10
BEFORE_MINUTES = (30, 20 * 60)
"""A before-session form is answered from the evening before to half an hour before."""
AFTER_MINUTES = (50, 26 * 60)
"""An after-session form from the session's end to the next day; the clinician's rating soon
after the session (CLINICIAN_MINUTES)."""
CLINICIAN_MINUTES = (55, 4 * 60)
ACT_MINUTES = {
    AlertKind.CRITICAL_ITEM: (20, 6 * 60),
    AlertKind.CRITICAL_UNANSWERED: (20, 6 * 60),
    AlertKind.SIGNAL_RED: (3 * 60, 4 * 24 * 60),
    AlertKind.RUPTURE: (3 * 60, 7 * 24 * 60),
    AlertKind.DROPOUT_RISK: (3 * 60, 5 * 24 * 60),
}
"""How long after it was raised an alert of the past was acted on: a critical item the same
day, the others within days (by the next session)."""


@dataclass(frozen=True)
class DemoLogin:
    email: str
    role: str


@dataclass(frozen=True)
class Demo:
    organisation: Organisation
    password: str
    logins: tuple[DemoLogin, ...]


def _staff(org: Organisation, email: str, name: str, role: str, password: str) -> Membership:
    user = User.objects.create_user(email, password, display_name=name)
    return Membership.objects.create(user=user, organisation=org, role=role)


def _rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "sessions.csv").open(newline="") as source:
        return list(csv.DictReader(source))


def _answers(row: dict[str, str]) -> dict[int, float | None]:
    """The row's answers to its measure's items; the file's further item columns are empty."""
    count = len(measures.measure(row["measure"]).items)
    return {n: float(v) if (v := row[f"item{n}"]) else None for n in range(1, count + 1)}


def _at(day: dt.date, hour: int) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def write_logins(data_dir: Path, demo: Demo) -> Path:
    path = data_dir / "demo-logins.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f"password: {demo.password}\n")
        for login in demo.logins:
            out.write(f"{login.role}: {login.email}\n")
    return path


def load_demo(episodes: int = 60, seed: int = 1, today: dt.date | None = None) -> Demo:
    """Simulate a practice and load it as the organisation "demo"; returns its logins."""
    if Organisation.objects.filter(slug=SLUG).exists():
        raise ValueError("A demo practice is loaded already.")
    # The demo's own clock: its history, answers and next forms are placed around `today`,
    # whatever day the loader runs on (tests pass a fixed day).
    now = timezone.now() if today is None else _at(today, 9)
    today = today or timezone.localdate()
    password = secrets.token_urlsafe(9)
    with tempfile.TemporaryDirectory(prefix="ally-demo-") as name:
        # Many episodes still running, so that every clinician has a caseload today.
        config = SimulationConfig(
            episodes=episodes,
            seed=seed,
            ongoing_share=ONGOING_SHARE,
            group_share=GROUP_SHARE,
            group_checkin=True,
        )
        simulate(config, Path(name), "csv")
        rows = _rows(Path(name))
    shift = today - dt.timedelta(days=1) - max(dt.date.fromisoformat(r["date"]) for r in rows)
    by_episode: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        by_episode[row["episode"]].append(row)

    with transaction.atomic():
        org = Organisation.objects.create(
            name="Demo Practice",
            slug=SLUG,
            crisis_contacts=CRISIS_CONTACTS,
            erasure_policy=ERASURE_POLICY,
        )
        logins = [
            DemoLogin(f"admin@{DOMAIN}", str(Role.ADMIN)),
            DemoLogin(f"supervisor@{DOMAIN}", str(Role.SUPERVISOR)),
            DemoLogin(f"researcher@{DOMAIN}", str(Role.RESEARCHER)),
        ]
        for login in logins:
            _staff(org, login.email, login.role.title(), login.role, password)
        clinicians: dict[str, Membership] = {}
        for code in sorted({r["clinician"] for r in rows}):
            number = int(code.lstrip("t"))
            email = f"clinician{number}@{DOMAIN}"
            clinicians[code] = _staff(
                org, email, f"Clinician {number}", str(Role.CLINICIAN), password
            )
            logins.append(DemoLogin(email, str(Role.CLINICIAN)))

    groups: dict[str, dict[str, list[dict[str, str]]]] = defaultdict(dict)
    ended: list[Ended] = []
    for episode_code, episode_rows in by_episode.items():
        if episode_rows[0]["group"]:
            groups[episode_rows[0]["group"]][episode_code] = episode_rows
            continue
        finished = _load_episode(org, clinicians, episode_code, episode_rows, shift, now, seed)
        if finished is not None:
            ended.append(finished)
    load_endings(ended, now, seed)
    load_goals(org, now, seed)
    for _code, members in sorted(groups.items()):
        _load_group(org, clinicians, members, shift, now, seed)
    logins += _coaching(password, now, seed)
    # The practice model of the demo's history, applied to every episode (as the scheduled
    # `fit_practice` would do).
    do_fit_practice_model(org, now=now)
    _date_feedback_alerts(org)
    _settle_history(org, now, seed)
    return Demo(org, password, tuple(logins))


def _coaching(password: str, now: dt.datetime, seed: int) -> list[DemoLogin]:
    """The demo's coaching practice, beside the therapy practice (`ally.web.demo_coaching`)."""
    from ally.web.demo_coaching import DOMAIN as COACHING_DOMAIN
    from ally.web.demo_coaching import load_coaching_demo

    staff = [
        (f"admin@{COACHING_DOMAIN}", "Coaching administrator", str(Role.ADMIN)),
        (f"coach1@{COACHING_DOMAIN}", "Coach 1", str(Role.CLINICIAN)),
        (f"coach2@{COACHING_DOMAIN}", "Coach 2", str(Role.CLINICIAN)),
    ]
    load_coaching_demo(
        staff,
        lambda org, email, name, role: _staff(org, email, name, role, password),
        now,
        seed,
    )
    return [DemoLogin(email, role) for email, _name, role in staff]


def _minutes(seed: int, *key: object, within: tuple[int, int]) -> dt.timedelta:
    """A time span within `within` minutes, the same for the same seed and key."""
    draw = random.Random("-".join(str(k) for k in (seed, *key)))
    return dt.timedelta(minutes=draw.randint(*within))


def _answered_at(
    session: Session, timing: str, respondent: str, now: dt.datetime, seed: int, key: str
) -> dt.datetime:
    """When a form of the session was answered: before the session starts, or after it for an
    after-session form or the clinician's rating, and never after the demo's `now`."""
    if respondent == str(Respondent.CLINICIAN):
        return min(session.scheduled_at + _minutes(seed, key, within=CLINICIAN_MINUTES), now)
    if timing == str(Timing.BEFORE):
        return session.scheduled_at - _minutes(seed, key, within=BEFORE_MINUTES)
    return min(session.scheduled_at + _minutes(seed, key, within=AFTER_MINUTES), now)


def _load_episode(
    org: Organisation,
    clinicians: dict[str, Membership],
    code: str,
    rows: list[dict[str, str]],
    shift: dt.timedelta,
    now: dt.datetime,
    seed: int,
) -> Ended | None:
    """The episode and its history; returned, not yet ended, if the simulation ended it."""
    first = rows[0]
    clinician = clinicians[first["clinician"]]
    dates = {int(r["session"]): dt.date.fromisoformat(r["date"]) + shift for r in rows}
    ending = first["ending"]
    with transaction.atomic():
        client = Client.objects.create(organisation=org, code=first["client"].upper())
        number = first["client"].lstrip("c")
        ClientIdentity.objects.create(
            client=client, name=f"Demo client {number}", email=f"client{number}@{DOMAIN}"
        )
        ended = ending in (str(EndReason.PLANNED), str(EndReason.DROPOUT))
        episode = Episode.objects.create(
            organisation=org,
            client=client,
            clinician=clinician,
            opened_on=min(dates.values()),
        )
        plan = MeasurementPlan.objects.create(episode=episode)
        measures = sorted({(r["measure"], r["rater"]) for r in rows})
        for measure, rater in measures:
            PlannedMeasure.objects.create(
                plan=plan,
                measure_id=measure,
                respondent=rater,
                timing=TIMING.get(measure, Timing.AFTER),
            )
        sessions = {
            number: Session.objects.create(
                organisation=org,
                episode=episode,
                clinician=clinician,
                number=number,
                scheduled_at=_at(day, SESSION_HOUR),
                status=SessionStatus.ATTENDED,
                status_changed_at=_at(day, SESSION_HOUR + 1),
            )
            for number, day in sorted(dates.items())
        }
    last = max(sessions)
    held: list[tuple[str, dict[int, float | None]]] = []
    for row in rows:
        session = sessions[int(row["session"])]
        respondent = row["rater"]
        if ending == str(EndReason.PLANNED) and _final_measure(row, last):
            # Answered at the ending instead, as its final measure (demo_endings).
            held.append((row["measure"], _answers(row)))
            continue
        timing = str(TIMING.get(row["measure"], Timing.AFTER))
        administration = do_create_administration(
            episode,
            row["measure"],
            session=session,
            respondent=respondent,
            timing=timing,
        )
        key = f"demo-{code}-{row['session']}-{row['measure']}-{respondent}"
        do_record_response(
            administration,
            _answers(row),
            idempotency_key=key,
            actor=clinician if respondent == str(Respondent.CLINICIAN) else None,
            refresh=False,  # do_fit_practice_model, once the practice is loaded
            now=_answered_at(session, timing, respondent, now, seed, key),
        )
    if ending == "ongoing":
        _next_session(episode, clinician, measures, max(sessions) + 1, now)
    if not ended:
        return None
    # Ended once the practice's history is in (demo_endings), as its clinician would.
    return Ended(episode, ending, max(dates.values()), tuple(held))


def _final_measure(row: dict[str, str], last: int) -> bool:
    """A client's outcome measure at the last session of a course that ends by plan."""
    return (
        int(row["session"]) == last
        and row["rater"] == str(Respondent.CLIENT)
        and measures.measure(row["measure"]).kind == Kind.OUTCOME
    )


def _staggered(members: dict[str, list[dict[str, str]]]) -> dict[str, list[dict[str, str]]]:
    """Rolling membership from a simulated closed group: the second and third of every three
    members join one or two meetings later (their rows of the meetings before are left out, and
    their own sessions are counted from their first meeting)."""
    dates = sorted({r["date"] for rows in members.values() for r in rows})
    staggered = {}
    for i, (code, rows) in enumerate(sorted(members.items())):
        skip = set(dates[: i % 3])
        kept = [r for r in rows if r["date"] not in skip]
        if len({r["date"] for r in kept}) < 2:
            kept = rows
        first = min(int(r["session"]) for r in kept)
        staggered[code] = [{**r, "session": str(int(r["session"]) - first + 1)} for r in kept]
    return staggered


def _load_group(
    org: Organisation,
    clinicians: dict[str, Membership],
    members: dict[str, list[dict[str, str]]],
    shift: dt.timedelta,
    now: dt.datetime,
    seed: int,
) -> None:
    """A simulated group as a group of the practice: its members' episodes, its meetings run
    through the group's write path (attendance once for all, each member's forms from their
    own plan and the group's), and each answer recorded as a client's would be."""
    from ally.web.actions.answers import do_expire_administration
    from ally.web.actions.groups import (
        do_add_group_member,
        do_add_group_planned_measure,
        do_create_group,
        do_record_group_attendance,
        do_schedule_group_session,
        do_set_group_schedule,
    )
    from ally.web.groups.levels import refresh_member_levels
    from ally.web.groups.models import MemberSession

    members = _staggered(members)
    first_rows = next(iter(members.values()))
    leader = clinicians[first_rows[0]["clinician"]]
    meetings = sorted(
        {dt.date.fromisoformat(r["date"]) + shift for rows in members.values() for r in rows}
    )
    day_name = meetings[0].strftime("%A")
    group = do_create_group(org, f"{day_name} group", [leader], actor=leader)
    do_set_group_schedule(
        group, weekday=meetings[0].weekday(), starts_at=dt.time(SESSION_HOUR), actor=leader
    )
    do_add_group_planned_measure(group, "ally-group", timing=str(Timing.AFTER), actor=leader)
    episodes: dict[str, Episode] = {}
    by_day: dict[tuple[str, dt.date], list[dict[str, str]]] = defaultdict(list)
    ended: dict[str, tuple[dt.date, str]] = {}
    for code, rows in members.items():
        rows = [r for r in rows if r["measure"] not in GROUP_FORMS]
        for row in rows:
            by_day[code, dt.date.fromisoformat(row["date"]) + shift].append(row)
        days = sorted(day for (c, day) in by_day if c == code)
        first = rows[0]
        client = Client.objects.create(organisation=org, code=first["client"].upper())
        number = first["client"].lstrip("c")
        ClientIdentity.objects.create(
            client=client, name=f"Demo client {number}", email=f"client{number}@{DOMAIN}"
        )
        episode = Episode.objects.create(
            organisation=org, client=client, clinician=leader, opened_on=days[0]
        )
        plan = MeasurementPlan.objects.create(episode=episode)
        for measure, rater in sorted({(r["measure"], r["rater"]) for r in rows}):
            PlannedMeasure.objects.create(
                plan=plan,
                measure_id=measure,
                respondent=rater,
                timing=TIMING.get(measure, Timing.AFTER),
            )
        place = do_add_group_member(group, episode, days[0], actor=leader)
        if first["ending"] in (str(EndReason.PLANNED), str(EndReason.DROPOUT)):
            ended[code] = (days[-1], first["ending"])
            place.left_on = days[-1]
            place.save(update_fields=["left_on"])
        episodes[code] = episode
    latest: dict[int, Administration] = {}
    for day in meetings:
        session = do_schedule_group_session(group, _at(day, SESSION_HOUR), actor=leader)
        came = {episodes[code].pk: True for code in episodes if (code, day) in by_day}
        do_record_group_attendance(session, came, actor=leader)
        for part in MemberSession.objects.filter(group_session=session).select_related("session"):
            code = next(c for c, e in episodes.items() if e.pk == part.episode_id)
            forms = {(a.measure_id, a.respondent): a for a in part.session.administrations.all()}
            for row in by_day.get((code, day), []):
                administration = forms.pop((row["measure"], row["rater"]), None)
                if administration is None:
                    continue
                key = f"demo-{code}-g{session.number}-{row['measure']}-{row['rater']}"
                timing = administration.timing
                do_record_response(
                    administration,
                    _answers(row),
                    idempotency_key=key,
                    actor=leader if row["rater"] == str(Respondent.CLINICIAN) else None,
                    refresh=False,
                    now=_answered_at(part.session, timing, row["rater"], now, seed, key),
                )
                if row["measure"] == "ally-group":
                    latest[part.episode_id] = administration
            for left in forms.values():  # a missed meeting's forms were never answered
                if left.is_open:
                    do_expire_administration(left)
    for administration in latest.values():
        # Raised when the latest check-in came in, as it would have been.
        refresh_member_levels(administration, administration.completed_at or now)
    for code, (day, reason) in ended.items():
        Episode.objects.filter(pk=episodes[code].pk).update(ended_on=day, end_reason=reason)
    if len(ended) < len(episodes):
        today = timezone.localdate(now)
        day = today + dt.timedelta(days=(meetings[0].weekday() - today.weekday() - 1) % 7 + 1)
        session = do_schedule_group_session(group, _at(day, SESSION_HOUR), actor=leader)
        for administration in Administration.objects.filter(
            session__group_part__group_session=session, respondent=Respondent.CLIENT
        ):
            do_mark_sent(administration, now)


def _next_session(
    episode: Episode,
    clinician: Membership,
    measures: list[tuple[str, str]],
    number: int,
    now: dt.datetime,
) -> None:
    """The next session in the coming days, its client forms created and sent."""
    day = timezone.localdate(now) + dt.timedelta(days=1 + episode.pk % 6)
    session = Session.objects.create(
        organisation=episode.organisation,
        episode=episode,
        clinician=clinician,
        number=number,
        scheduled_at=_at(day, SESSION_HOUR),
    )
    for measure, rater in measures:
        if rater != str(Respondent.CLIENT):
            continue
        administration = do_create_administration(
            episode,
            measure,
            session=session,
            respondent=rater,
            timing=TIMING.get(measure, Timing.AFTER),
            expires_at=_at(day, 23),
        )
        do_mark_sent(administration, now)


def _date_feedback_alerts(org: Organisation) -> None:
    """The practice model raised its alerts (red signals, ruptures, dropout risk) when the demo
    was loaded; a practice's would have been raised when the answer that shows them came in."""
    answered = Administration.objects.filter(
        episode__organisation=org, status=AdministrationStatus.COMPLETED
    ).values_list("episode_id", "measure_id", "respondent", "session__number", "completed_at")
    when: dict[tuple[int, str], dt.datetime] = {}
    for episode_id, measure, rater, number, completed in answered:
        for key in (f"{measure}:{rater}:{number}", f"dropout:{number}"):
            if (episode_id, key) not in when or completed > when[episode_id, key]:
                when[episode_id, key] = completed
    for alert in Alert.objects.filter(episode__organisation=org, response__isnull=True):
        raised = when.get((alert.episode_id, alert.source_key))
        if raised is not None:
            Alert.objects.filter(pk=alert.pk).update(raised_at=raised)


def _settle_history(org: Organisation, now: dt.datetime, seed: int) -> None:
    """Alerts of ended episodes and of earlier sessions were dealt with at the time; only the
    latest session's alerts of running episodes are left open for the demo's clinicians."""
    latest = {
        e.pk: e.latest
        for e in Episode.objects.filter(organisation=org).annotate(
            latest=Max(
                "administrations__session__number", filter=Q(administrations__status="completed")
            )
        )
    }
    alerts = Alert.objects.filter(episode__organisation=org, acted_at__isnull=True).select_related(
        "episode__clinician", "episode__client", "response__administration__session"
    )
    for alert in alerts:
        episode = alert.episode
        session = alert.response.administration.session if alert.response else None
        recent = session is None or session.number == latest[episode.pk]
        if episode.ended_on is None and recent:
            continue
        do_act_on_alert(alert, episode.clinician, HISTORY_NOTE[alert.kind])
        # Acted on some time after it was raised, not at the moment the demo loaded (the
        # write path records its own clock; the demo's history has its own).
        key = (episode.client.code, session.number if session else "", alert.kind, alert.item)
        acted = alert.raised_at + _minutes(seed, *key, within=ACT_MINUTES[alert.kind])
        acted = min(acted, max(alert.raised_at, now - dt.timedelta(minutes=1)))
        Alert.objects.filter(pk=alert.pk).update(seen_at=acted, acted_at=acted)


def demo_summary(demo: Demo | None, data_dir: Path) -> dict[str, Any]:
    """The logins to print, from the fresh demo or from the file a first start wrote."""
    path = data_dir / "demo-logins.txt"
    if demo is not None:
        return {"password": demo.password, "logins": [(x.role, x.email) for x in demo.logins]}
    if not path.exists():
        return {}
    lines = path.read_text().splitlines()
    password = lines[0].split(": ", 1)[1] if lines else ""
    logins = [tuple(line.split(": ", 1)) for line in lines[1:] if ": " in line]
    return {"password": password, "logins": logins}
