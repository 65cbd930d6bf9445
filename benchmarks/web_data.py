"""A realistic practice in its own PostgreSQL database, for the web app's load benchmark.

One organisation with 50 clinicians and a history of about 100,000 sessions simulated by
`ally simulate` (PHQ-9 with GAD-7 or CORE-10 before each session, the alliance check-in after
it, some clinician ratings), stored in the shapes the app writes: every administration created,
sent, opened and answered with its response scored by `ally.scoring`, critical-item alerts raised
by the write path's own rule (and the old ones acted on), an unbroken audit hash chain, and the
practice model fitted on all of it and applied to every episode (`do_fit_practice_model`, as the
scheduled `fit_practice` does). History goes in by bulk inserts (minutes rather than hours); the
answers the benchmark submits go through the real pages.

For the submit phase, every running episode also gets future sessions whose client
questionnaires are created and sent (open links), `--open` administrations in all.

    .venv/bin/python benchmarks/web_data.py            # drops and rebuilds ally_bench
    .venv/bin/python benchmarks/web_data.py --help

Only on 127.0.0.1, as the postgres user with trust authentication (the test setup); the data
folder (secret key, master keys, logins) is benchmarks/data/web/.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import secrets
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "data" / "web"
DB_NAME = "ally_bench"
SLUG = "bench"
DOMAIN = "bench.ally.example"
BATCH = 5000


def database_env(db_name: str = DB_NAME, data_dir: Path = DATA_DIR) -> dict[str, str]:
    """The environment that points Ally (this script, the server, the load driver) at the copy."""
    return {
        "ALLY_DB_ENGINE": "postgresql",
        "ALLY_DB_NAME": db_name,
        "ALLY_DB_USER": "postgres",
        "ALLY_DB_HOST": "127.0.0.1",
        "ALLY_DATA_DIR": str(data_dir),
        "DJANGO_SETTINGS_MODULE": "ally.web.settings",
    }


def setup_django(db_name: str = DB_NAME) -> None:
    settings_module = os.environ.get("DJANGO_SETTINGS_MODULE")
    os.environ.update(database_env(db_name))
    if settings_module:  # the server's, when web_load.py runs this
        os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    import django

    django.setup()


def recreate_database(db_name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        "host=127.0.0.1 user=postgres dbname=postgres", autocommit=True
    ) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(db_name)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db_name)))


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        began = time.perf_counter()
        print(f"{name} ...", flush=True)
        yield
        now = time.perf_counter()
        print(f"  {now - began:.1f} s (total {now - self.start:.0f} s)", flush=True)


class AuditTrail:
    """The audit events of the history, chained in time order once every row has its key."""

    def __init__(self) -> None:
        self.events: list[tuple[dt.datetime, int | None, str, Any]] = []

    def add(self, at: dt.datetime, actor: int | None, action: str, target: Any) -> None:
        self.events.append((at, actor, action, target))

    def write(self, organisation_id: int) -> int:
        from ally.web.auditlog.chain import GENESIS, digest_of
        from ally.web.auditlog.models import AuditEntry

        self.events.sort(key=lambda event: event[0])
        last = AuditEntry.objects.order_by("-pk").values_list("digest", flat=True).first()
        previous = last or GENESIS
        batch: list[AuditEntry] = []
        for at, actor, action, target in self.events:
            entry = AuditEntry(
                at=at,
                organisation_id=organisation_id,
                actor_id=actor,
                action=action,
                target_type=type(target)._meta.label,
                target_id=str(target.pk),
                previous=previous,
            )
            entry.digest = digest_of(entry)
            previous = entry.digest
            batch.append(entry)
            if len(batch) == BATCH:
                AuditEntry.objects.bulk_create(batch)
                batch = []
        AuditEntry.objects.bulk_create(batch)
        return len(self.events)


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    from django.utils import timezone

    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))


def simulate_rows(
    episodes: int, clinicians: int, seed: int, ongoing: float
) -> list[dict[str, str]]:
    import csv

    from ally.simulate import SimulationConfig, simulate

    with tempfile.TemporaryDirectory(prefix="ally-bench-") as name:
        config = SimulationConfig(
            episodes=episodes, clinicians=clinicians, seed=seed, ongoing_share=ongoing
        )
        simulate(config, Path(name), "csv")
        with (Path(name) / "sessions.csv").open(newline="") as source:
            return list(csv.DictReader(source))


def add_open(count: int, trail: AuditTrail | None = None) -> int:
    """Future sessions for the running episodes, each with its client questionnaires created
    and sent: `count` open administrations, as `send_due_links` leaves them. Returns sessions."""
    from django.db.models import Max
    from django.utils import timezone

    from ally.web.collect import measures
    from ally.web.collect.models import (
        Administration,
        AdministrationStatus,
        PlannedMeasure,
        Respondent,
        Timing,
    )
    from ally.web.demo import TIMING
    from ally.web.practice.models import Episode, Organisation, Session

    org = Organisation.objects.get(slug=SLUG)
    running = list(
        Episode.objects.filter(organisation=org, ended_on__isnull=True)
        .select_related("clinician")
        .annotate(last=Max("sessions__number"))
        .order_by("pk")
    )
    client_measures: dict[int, list[str]] = defaultdict(list)
    planned = PlannedMeasure.objects.filter(
        plan__episode__in=running, respondent=Respondent.CLIENT
    ).order_by("pk")
    for entry in planned.values_list("plan__episode_id", "measure_id"):
        client_measures[entry[0]].append(entry[1])
    own = trail or AuditTrail()
    now = timezone.now()
    today = timezone.localdate()
    future: list[Any] = []
    opened: list[Any] = []
    number_of = {e.pk: e.last or 0 for e in running}
    round_ = 0
    while len(opened) < count:
        round_ += 1
        for episode in running:
            if len(opened) >= count:
                break
            number_of[episode.pk] += 1
            session = Session(
                organisation=org,
                episode=episode,
                clinician=episode.clinician,
                number=number_of[episode.pk],
                scheduled_at=at(today + dt.timedelta(days=round_), 10),
            )
            future.append(session)
            for measure_id in client_measures[episode.pk]:
                measure = measures.measure(measure_id)
                opened.append(
                    Administration(
                        episode=episode,
                        session=session,
                        measure_id=measure.id,
                        measure_version=measure.version,
                        respondent=Respondent.CLIENT,
                        timing=TIMING.get(measure_id, Timing.AFTER),
                        status=AdministrationStatus.SENT,
                        sent_at=now,
                        expires_at=now + dt.timedelta(days=7),
                    )
                )
    Session.objects.bulk_create(future, batch_size=BATCH)
    Administration.objects.bulk_create(opened, batch_size=BATCH)
    for session in future:
        own.add(now - dt.timedelta(minutes=2), session.clinician_id, "session.scheduled", session)
    for administration in opened:
        actor = administration.episode.clinician_id
        own.add(now - dt.timedelta(minutes=1), actor, "administration.created", administration)
        own.add(now, None, "administration.sent", administration)
    if trail is None:
        own.write(org.pk)
    return len(future)


def build(args: argparse.Namespace) -> None:
    watch = Stopwatch()
    with watch.step(f"dropping and creating the database {args.db}"):
        recreate_database(args.db)
    setup_django(args.db)
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from ally.scoring import score
    from ally.web import audit
    from ally.web.accounts.models import User
    from ally.web.actions import answers as write_path
    from ally.web.actions.monitoring import do_fit_practice_model
    from ally.web.alerts.models import Alert
    from ally.web.collect import measures
    from ally.web.collect.models import (
        Administration,
        AdministrationStatus,
        MeasurementPlan,
        PlannedMeasure,
        Respondent,
        Response,
        Timing,
    )
    from ally.web.demo import CRISIS_CONTACTS, HISTORY_NOTE, TIMING
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

    with watch.step("migrating"):
        call_command("migrate", verbosity=0)
    with watch.step(f"simulating {args.episodes:,} episodes with {args.clinicians} clinicians"):
        rows = simulate_rows(args.episodes, args.clinicians, args.seed, args.ongoing_share)
    today = timezone.localdate()
    shift = today - dt.timedelta(days=1) - max(dt.date.fromisoformat(r["date"]) for r in rows)
    by_episode: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        by_episode[row["episode"]].append(row)
    trail = AuditTrail()

    with watch.step("organisation and staff"):
        org = Organisation.objects.create(
            name="Benchmark Practice", slug=SLUG, crisis_contacts=CRISIS_CONTACTS
        )
        password = secrets.token_urlsafe(12)
        hashed = make_password(password)  # one Argon2 hash for all: 50 would take a minute
        codes = sorted({r["clinician"] for r in rows}, key=lambda c: int(c.lstrip("t")))
        users = [User(email=f"admin@{DOMAIN}", display_name="Admin", password=hashed)]
        users += [
            User(email=f"clinician{n}@{DOMAIN}", display_name=f"Clinician {n}", password=hashed)
            for n in range(1, len(codes) + 1)
        ]
        users = User.objects.bulk_create(users)
        members = Membership.objects.bulk_create(
            [Membership(user=users[0], organisation=org, role=Role.ADMIN)]
            + [Membership(user=u, organisation=org, role=Role.CLINICIAN) for u in users[1:]]
        )
        clinicians = dict(zip(codes, members[1:], strict=True))
        (DATA_DIR / "bench-logins.txt").write_text(
            f"password: {password}\n" + "".join(f"{u.email}\n" for u in users)
        )

    with watch.step(f"{len(by_episode):,} clients with sealed identities"):
        clients = Client.objects.bulk_create(
            [Client(organisation=org, code=code.upper()) for code in by_episode]
        )
        client_of = dict(zip(by_episode, clients, strict=True))
        for code, client in client_of.items():
            # One by one through the model: each identity is sealed with its client's own key.
            ClientIdentity.objects.create(
                client=client, name=f"Bench client {code}", email=f"{code}@{DOMAIN}"
            )

    with watch.step("episodes, plans and sessions"):
        episodes: dict[str, Any] = {}
        dates: dict[str, dict[int, dt.date]] = {}
        for code, episode_rows in by_episode.items():
            first = episode_rows[0]
            days = {
                int(r["session"]): dt.date.fromisoformat(r["date"]) + shift for r in episode_rows
            }
            dates[code] = days
            ended = first["ending"] in (str(EndReason.PLANNED), str(EndReason.DROPOUT))
            episodes[code] = Episode(
                organisation=org,
                client=client_of[code],
                clinician=clinicians[first["clinician"]],
                opened_on=min(days.values()),
                ended_on=max(days.values()) if ended else None,
                end_reason=first["ending"] if ended else "",
            )
        Episode.objects.bulk_create(list(episodes.values()), batch_size=BATCH)
        plans = MeasurementPlan.objects.bulk_create(
            [MeasurementPlan(episode=e) for e in episodes.values()], batch_size=BATCH
        )
        plan_of = {p.episode_id: p for p in plans}
        entries = []
        measures_of: dict[str, list[tuple[str, str]]] = {}
        for code, episode_rows in by_episode.items():
            pairs = sorted({(r["measure"], r["rater"]) for r in episode_rows})
            measures_of[code] = pairs
            entries += [
                PlannedMeasure(
                    plan=plan_of[episodes[code].pk],
                    measure_id=m,
                    respondent=rater,
                    timing=TIMING.get(m, Timing.AFTER),
                )
                for m, rater in pairs
            ]
        PlannedMeasure.objects.bulk_create(entries, batch_size=BATCH)
        sessions: dict[tuple[str, int], Any] = {}
        for code, days in dates.items():
            episode = episodes[code]
            for number, day in sorted(days.items()):
                sessions[(code, number)] = Session(
                    organisation=org,
                    episode=episode,
                    clinician=episode.clinician,
                    number=number,
                    scheduled_at=at(day, 10),
                    status=SessionStatus.ATTENDED,
                    status_changed_at=at(day, 11),
                )
        Session.objects.bulk_create(list(sessions.values()), batch_size=BATCH)
        for code, episode in episodes.items():
            opened = at(episode.opened_on, 9)
            actor = episode.clinician_id
            trail.add(opened - dt.timedelta(minutes=5), actor, "client.created", client_of[code])
            trail.add(opened, actor, "episode.opened", episode)
            if episode.ended_on is not None:
                trail.add(at(episode.ended_on, 12), actor, "episode.ended", episode)
        for session in sessions.values():
            trail.add(
                session.scheduled_at - dt.timedelta(days=7),
                session.clinician_id,
                "session.scheduled",
                session,
            )
            trail.add(session.status_changed_at, session.clinician_id, "session.status", session)

    with watch.step(f"{len(rows):,} administrations and responses, scored"):
        administrations: list[Any] = []
        scored: list[tuple[Any, dict[str, Any], Any]] = []
        for row in rows:
            code, number = row["episode"], int(row["session"])
            session = sessions[(code, number)]
            day = dates[code][number]
            measure = measures.measure(row["measure"])
            answers = {
                n: float(v) if (v := row[f"item{n}"]) else None
                for n in range(1, len(measure.items) + 1)
            }
            result = score(measure, answers, version=measure.version)
            by_client = row["rater"] == str(Respondent.CLIENT)
            timing = TIMING.get(row["measure"], Timing.AFTER)
            done = at(day, 9, 40) if timing == Timing.BEFORE else at(day, 11, 5)
            administration = Administration(
                episode=episodes[code],
                session=session,
                measure_id=measure.id,
                measure_version=measure.version,
                respondent=row["rater"],
                timing=timing,
                status=AdministrationStatus.COMPLETED,
                sent_at=at(day, 9) - dt.timedelta(days=1) if by_client else None,
                opened_at=done - dt.timedelta(minutes=3) if by_client else None,
                completed_at=done,
                expires_at=at(day, 23) if by_client else None,
            )
            administrations.append(administration)
            scored.append(
                (
                    administration,
                    write_path._score_fields(result, write_path._stored(answers)),
                    result,
                )
            )
        Administration.objects.bulk_create(administrations, batch_size=BATCH)
        responses = []
        for administration, fields, _ in scored:
            by_client = administration.respondent == str(Respondent.CLIENT)
            responses.append(
                Response(
                    administration=administration,
                    idempotency_key=uuid.uuid4().hex,  # as the client's form makes it
                    entered_by=None if by_client else administration.episode.clinician,
                    recorded_at=administration.completed_at,
                    **fields,
                )
            )
        Response.objects.bulk_create(responses, batch_size=BATCH)
        for administration, response in zip(administrations, responses, strict=True):
            created = administration.completed_at - dt.timedelta(days=2)
            actor = administration.episode.clinician_id
            trail.add(created, actor, "administration.created", administration)
            if administration.sent_at is not None:
                trail.add(administration.sent_at, None, "administration.sent", administration)
                trail.add(administration.opened_at, None, "administration.opened", administration)
            recorder = None if response.entered_by_id is None else actor
            trail.add(response.recorded_at, recorder, "response.recorded", response)

    with watch.step("critical-item alerts, by the write path's own rule"):
        raised: list[tuple[dt.datetime, Any]] = []
        original_record = audit.record
        # The write path's rule raises the alerts; their audit entries join the history's chain.
        audit.record = lambda action, *, actor, target: trail.add(
            target.raised_at, None, action, target
        )
        try:
            for (administration, _, result), response in zip(scored, responses, strict=True):
                if result.alerts or result.unanswered_critical:
                    for alert in write_path._raise_alerts(
                        administration.episode_id, result, response, None, response.recorded_at
                    ):
                        raised.append((response.recorded_at, alert))
        finally:
            audit.record = original_record
        latest = {code: max(days) for code, days in dates.items()}
        code_of = {e.pk: code for code, e in episodes.items()}
        settled = []
        for when, alert in raised:
            episode = episodes[code_of[alert.episode_id]]
            session = alert.response.administration.session
            recent = session.number == latest[code_of[alert.episode_id]]
            if episode.ended_on is None and recent:
                continue  # the latest session's alerts of running episodes are still open
            acted = when + dt.timedelta(days=1)
            alert.seen_at = alert.acted_at = acted
            alert.seen_by_id = alert.acted_by_id = episode.clinician_id
            alert.action_note = HISTORY_NOTE[alert.kind]
            settled.append(alert)
            trail.add(acted, episode.clinician_id, "alert.acted_on", alert)
        Alert.objects.bulk_update(
            settled, ["seen_at", "seen_by", "acted_at", "acted_by", "action_note"], BATCH
        )
        print(f"  {len(raised):,} alerts, {len(settled):,} acted on", flush=True)

    with watch.step(f"open links for the submit phase: {args.open:,} administrations"):
        print(f"  {add_open(args.open, trail):,} future sessions", flush=True)

    with watch.step("historical timestamps (auto_now_add fields)"), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE collect_administration SET created_at = "
            "COALESCE(sent_at, completed_at) - interval '1 day' WHERE status = 'completed'"
        )
        cursor.execute("UPDATE practice_episode SET created_at = opened_on + time '09:00'")
        cursor.execute(
            "UPDATE practice_client c SET created_at = e.opened_on + time '08:55' "
            "FROM practice_episode e WHERE e.client_id = c.id"
        )

    with watch.step(f"audit chain of the history: {len(trail.events):,} entries"):
        trail.write(org.pk)

    with watch.step("the practice model fitted on all answers and applied to every episode"):
        alerts_before = Alert.objects.count()
        fit = do_fit_practice_model(org, now=timezone.now())
        print(
            f"  fitted on {fit.episodes:,} episodes and {fit.administrations:,} administrations;"
            f" {Alert.objects.count() - alerts_before:,} feedback alerts raised",
            flush=True,
        )

    with watch.step(
        "the running episodes' charts, as clinicians' first views would have drawn them"
    ):
        print(f"  {draw_running_charts():,} episodes", flush=True)

    with watch.step("VACUUM ANALYZE"), connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")

    counts = {
        "clinicians": Membership.objects.filter(organisation=org, role=Role.CLINICIAN).count(),
        "clients": Client.objects.filter(organisation=org).count(),
        "episodes (running)": Episode.objects.filter(ended_on__isnull=True).count(),
        "sessions attended": Session.objects.filter(status=SessionStatus.ATTENDED).count(),
        "responses": Response.objects.count(),
        "open administrations": Administration.objects.filter(
            status=AdministrationStatus.SENT
        ).count(),
        "alerts": Alert.objects.count(),
    }
    from ally.web.auditlog.models import AuditEntry

    counts["audit entries"] = AuditEntry.objects.count()
    for name, value in counts.items():
        print(f"{name:>22}: {value:,}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        print(f"{'database size':>22}: {cursor.fetchone()[0]}")


def draw_running_charts() -> int:
    """Draw and store every running episode's charts, as clinicians' first views would have
    drawn them: the state a practice that has been answering for a while is in."""
    from ally.web.clinic.episodes import draw_charts
    from ally.web.practice.models import Episode

    running = list(Episode.objects.filter(ended_on__isnull=True).values_list("pk", flat=True))
    for pk in running:
        draw_charts(pk)
    return len(running)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=DB_NAME, help="Database to (re)create (%(default)s).")
    parser.add_argument(
        "--episodes",
        type=int,
        default=13_100,
        help="Simulated episodes, one client each; 13,100 give about 100,000 sessions.",
    )
    parser.add_argument("--clinicians", type=int, default=50)
    parser.add_argument(
        "--ongoing-share",
        type=float,
        default=0.13,
        help="Share of episodes still running: 0.13 gives about 1,700 clients in care now.",
    )
    parser.add_argument(
        "--open", type=int, default=80_000, help="Open client administrations (sent links)."
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--add-open",
        type=int,
        metavar="N",
        help="Only add N more open questionnaires to the database built before (a minute).",
    )
    parser.add_argument(
        "--draw-charts",
        action="store_true",
        help="Only migrate the database built before and draw the running episodes' charts, "
        "as clinicians' first views would have drawn them.",
    )
    args = parser.parse_args(argv)
    if args.draw_charts:
        setup_django(args.db)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        print(f"charts drawn for {draw_running_charts():,} running episodes")
        return 0
    if args.add_open:
        setup_django(args.db)
        print(f"{add_open(args.add_open):,} future sessions with open questionnaires added")
        return 0
    build(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
