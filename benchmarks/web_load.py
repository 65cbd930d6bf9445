"""Load on the web app: gunicorn on 127.0.0.1 against the practice `web_data.py` built.

Three phases, each bounded in time and in count, each only against 127.0.0.1:

- form:   clients open their link and read the questionnaire page (`GET /a/`), N at a time;
- submit: clients open a link and send each questionnaire of the visit (`POST /a/`: in one
          transaction the answers stored and scored, the episode's results under the practice
          model brought up to date, critical alerts raised and audited), paced at a target rate
          of submissions per second;
- clinic: clinicians, signed in with a verified second factor, open their clients' pages
          (`clinic:episode`).

Every request's latency is kept; the report gives p50/p95/p99, throughput, errors and the CPU
used by the server, PostgreSQL and this driver. The load comes from asyncio + aiohttp in this one
process (on the same 2 cores as the server: its CPU is reported so the reader can judge).

    .venv/bin/python benchmarks/web_load.py --phases form --seconds 20        # a short try
    .venv/bin/python benchmarks/web_load.py --submit-seconds 300              # the full run
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import json
import os
import random
import re
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from web_data import DATA_DIR, DB_NAME, SLUG, database_env, setup_django

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


# --- What the driver needs from the database, prepared before the load -------------------------


@dataclass
class Prepared:
    links: list[str]
    """Signed link tokens, one per visit (a session's open client questionnaires)."""
    questionnaires: dict[str, list[tuple[int, str]]]
    """Per link: the visit's administrations in the order the pages show them, with measures."""
    choices: dict[str, dict[str, list[str]]]
    """Per measure: its form's answer values by field name, as the form page offers them."""
    staff: list[tuple[str, list[int]]]
    """Per clinician: the session cookie of a verified sign-in, and their running episodes."""
    cookie_name: str


def signed_in_cookie(user: Any) -> str:
    """A session as the sign-in pages leave it: password and authenticator code verified."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth.models import AnonymousUser
    from django.test import RequestFactory
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from ally.web.accounts import two_factor

    device, _ = TOTPDevice.objects.get_or_create(
        user=user, name=two_factor.AUTHENTICATOR_NAME, defaults={"confirmed": True}
    )
    request = RequestFactory().get("/accounts/login/")
    request.session = import_module(settings.SESSION_ENGINE).SessionStore()
    request.user = AnonymousUser()
    two_factor.begin(request, user, "/")
    two_factor.finish(request, user, device)
    request.session.save()
    return str(request.session.session_key)


def prepare(visits: int) -> Prepared:
    """Sign links for visits nobody has opened yet, and sign every clinician in."""
    from django.conf import settings
    from django.db import connections

    from ally.web.collect import measures
    from ally.web.collect.models import Administration, AdministrationStatus
    from ally.web.collect.models.administrations import taking_answers
    from ally.web.practice.models import Episode, Membership
    from ally.web.respond import forms
    from ally.web.respond.links import signed_token
    from ally.web.respond.visit import in_order
    from ally.web.scoping import Role

    # One link per session whose client questionnaires are all still unopened.
    touched = set(
        Administration.objects.filter(session__scheduled_at__gt=_now())
        .exclude(status=AdministrationStatus.SENT)
        .values_list("session_id", flat=True)
    )
    firsts = (
        Administration.objects.filter(
            taking_answers(_now()), status=AdministrationStatus.SENT, session__isnull=False
        )
        .exclude(session_id__in=touched)
        .order_by("session_id", "pk")
        .distinct("session_id")
    )
    chosen = list(firsts[:visits])
    links = [signed_token(a) for a in chosen]
    by_session: dict[int, list[Any]] = defaultdict(list)
    opened = Administration.objects.filter(
        session_id__in=[a.session_id for a in chosen], status=AdministrationStatus.SENT
    )
    # A visit before the session answers what takes answers now: the check-in about the session
    # opens once it has started.
    for administration in opened.filter(taking_answers(_now()), respondent="client"):
        by_session[administration.session_id].append(administration)
    questionnaires = {
        link: [(a.pk, a.measure_id) for a in in_order(by_session[first.session_id])]
        for link, first in zip(links, chosen, strict=True)
    }
    choices = {
        measure_id: {
            q.name: [c.value for c in q.choices]
            for q in forms.build(measures.measure(measure_id)).questions
        }
        for measure_id in {m for visit in questionnaires.values() for _, m in visit}
    }
    staff = []
    members = Membership.objects.filter(organisation__slug=SLUG, role=Role.CLINICIAN)
    for member in members.select_related("user").order_by("pk"):
        episodes = list(
            Episode.objects.filter(clinician=member, ended_on__isnull=True).values_list(
                "pk", flat=True
            )
        )
        staff.append((signed_in_cookie(member.user), episodes))
    connections.close_all()
    return Prepared(links, questionnaires, choices, staff, settings.SESSION_COOKIE_NAME)


def _now() -> Any:
    from django.utils import timezone

    return timezone.now()


# --- Measuring ----------------------------------------------------------------------------------


@dataclass
class Kind:
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))


@dataclass
class Recorder:
    kinds: dict[str, Kind] = field(default_factory=lambda: defaultdict(Kind))

    def ok(self, kind: str, seconds: float) -> None:
        self.kinds[kind].latencies.append(seconds)

    def error(self, kind: str, what: str) -> None:
        self.kinds[kind].errors[what] += 1


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary(recorder: Recorder, seconds: float) -> dict[str, dict[str, Any]]:
    out = {}
    for name, kind in sorted(recorder.kinds.items()):
        lat = kind.latencies
        out[name] = {
            "count": len(lat),
            "errors": sum(kind.errors.values()),
            "error_kinds": dict(kind.errors),
            "per_second": len(lat) / seconds if seconds else 0.0,
            "p50_ms": percentile(lat, 50) * 1000,
            "p95_ms": percentile(lat, 95) * 1000,
            "p99_ms": percentile(lat, 99) * 1000,
            "max_ms": max(lat, default=float("nan")) * 1000,
        }
    return out


class Cpu:
    """CPU seconds of the server (gunicorn and its workers), PostgreSQL and this driver."""

    def __init__(self, server: psutil.Process, database: str) -> None:
        self.server = server
        self.database = database
        self.start = self.read()

    def read(self) -> dict[str, Any]:
        server = 0.0
        for process in [self.server, *self.server.children()]:  # gunicorn and its workers
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                server += times.user + times.system
        postgres: dict[int, float] = {}
        for process in psutil.process_iter(["name", "cmdline"]):
            title = " ".join(process.info["cmdline"] or ())
            # This database's backends and the shared ones (WAL writer, checkpointer), not the
            # other databases' (other work on the machine).
            ours = f" {self.database} " in title or "127.0.0.1(" not in title
            if process.info["name"] == "postgres" and ours:
                with contextlib.suppress(psutil.Error):
                    times = process.cpu_times()
                    postgres[process.pid] = times.user + times.system
        driver = psutil.Process().cpu_times()
        return {
            "server": server,
            "postgres_by_pid": postgres,
            "driver": driver.user + driver.system,
            "wall": time.monotonic(),
        }

    def since_start(self) -> dict[str, float]:
        now = self.read()
        wall = now["wall"] - self.start["wall"]
        cores = {
            f"{name}_cores": (now[name] - self.start[name]) / wall for name in ("server", "driver")
        }
        # Backends that ended during the phase are missed: a lower bound.
        before, after = self.start["postgres_by_pid"], now["postgres_by_pid"]
        used = sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())
        cores["postgres_cores"] = used / wall
        return cores


# --- The client's pages -------------------------------------------------------------------------

INPUT = re.compile(r"<input\b[^>]*>")
ATTRIBUTE = re.compile(r'(\w[\w-]*)="([^"]*)"')


def form_fields(page: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Hidden fields, and radio choices by question, of the page's form."""
    hidden: dict[str, str] = {}
    radios: dict[str, list[str]] = defaultdict(list)
    for tag in INPUT.findall(page):
        attributes = {k: html.unescape(v) for k, v in ATTRIBUTE.findall(tag)}
        if attributes.get("type") == "hidden":
            hidden[attributes["name"]] = attributes.get("value", "")
        elif attributes.get("type") == "radio":
            radios[attributes["name"]].append(attributes["value"])
    return hidden, radios


def answers(radios: dict[str, list[str]], rng: random.Random, critical_share: float) -> dict:
    """Mostly mild answers; the last item of a nine-item form (PHQ-9's item 9, thoughts of
    self-harm) endorsed in `critical_share` of forms, so critical alerts are raised as in care."""
    chosen = {}
    names = sorted(radios, key=lambda n: int(n.rsplit("_", 1)[-1]))
    for name in names:
        values = radios[name]
        if len(names) == 9 and name == names[-1]:
            chosen[name] = values[1] if rng.random() < critical_share else values[0]
        else:
            chosen[name] = rng.choices(values, weights=range(len(values), 0, -1))[0]
    return chosen


class Visits:
    """The links not yet used, handed out one by one."""

    def __init__(self, links: list[str]) -> None:
        self._links: Iterator[str] = iter(links)

    def next(self) -> str | None:
        return next(self._links, None)


class Pace:
    """Starts at most `rate` actions a second, from the first; late callers go at once."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.start = time.monotonic()
        self.count = 0

    async def wait(self) -> None:
        due = self.start + self.count / self.rate
        self.count += 1
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


async def timed(
    recorder: Recorder,
    kind: str,
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    expect: int,
    **kwargs: Any,
) -> tuple[aiohttp.ClientResponse, str] | None:
    began = time.perf_counter()
    try:
        async with session.request(method, url, allow_redirects=False, **kwargs) as response:
            body = await response.text()
    except (TimeoutError, aiohttp.ClientError) as exc:
        recorder.error(kind, type(exc).__name__)
        return None
    elapsed = time.perf_counter() - began
    if response.status != expect:
        where = response.headers.get("Location", "").split("?")[0]
        recorder.error(kind, f"HTTP {response.status} {where}".strip())
        return None
    recorder.ok(kind, elapsed)
    return response, body


def client_session(base: str) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        base_url=base,
        cookie_jar=aiohttp.CookieJar(unsafe=True),  # cookies for 127.0.0.1
        timeout=aiohttp.ClientTimeout(total=30),
        connector=aiohttp.TCPConnector(limit=1),
    )


async def pause(seconds: float, deadline: float) -> None:
    """A user's think time, cut short at the phase's end (an exponential pause can be long)."""
    await asyncio.sleep(max(0.0, min(seconds, deadline - time.monotonic())))


async def reader(
    base: str, visits: Visits, recorder: Recorder, deadline: float, views: int, think: float
) -> None:
    """A client who opens a link and reads the form page `views` times; then the next one."""
    if think:  # users with think time do not all start at the same instant
        await pause(random.uniform(0, think), deadline)
    while time.monotonic() < deadline and (link := visits.next()) is not None:
        async with client_session(base) as session:
            if await timed(recorder, "open link", session, "GET", f"/a/{link}/", 302) is None:
                continue
            for _ in range(views):
                if time.monotonic() >= deadline:
                    break
                await timed(recorder, "form page", session, "GET", "/a/", 200)
                if think:
                    await pause(random.expovariate(1 / think), deadline)


async def submitter(
    base: str,
    visits: Visits,
    recorder: Recorder,
    deadline: float,
    pace: Pace,
    rng: random.Random,
    critical_share: float,
) -> None:
    """A client who opens a link and sends each questionnaire of the visit, as a browser does."""
    while time.monotonic() < deadline and (link := visits.next()) is not None:
        async with client_session(base) as session:
            if await timed(recorder, "open link", session, "GET", f"/a/{link}/", 302) is None:
                continue
            location = "/a/"
            while location == "/a/" and time.monotonic() < deadline:
                shown = await timed(recorder, "form page", session, "GET", "/a/", 200)
                if shown is None:
                    break
                hidden, radios = form_fields(shown[1])
                if not radios:
                    recorder.error("submit", "no questions on the page")
                    break
                await pace.wait()
                posted = await timed(
                    recorder,
                    "submit",
                    session,
                    "POST",
                    "/a/",
                    302,
                    data={**hidden, **answers(radios, rng, critical_share), "action": "submit"},
                    headers={"Referer": f"{base}/a/"},
                )
                if posted is None:
                    break
                location = posted[0].headers.get("Location", "")
                if location.endswith("/a/safety/"):
                    location = await _safety(base, session, recorder)
            if location.endswith("/a/done/"):
                await timed(recorder, "done page", session, "GET", "/a/done/", 200)


@dataclass
class OpenVisit:
    session: aiohttp.ClientSession
    csrf: str
    questionnaires: list[tuple[int, str]]


async def open_visits(
    base: str, links: list[str], prepared: Prepared, concurrency: int
) -> list[OpenVisit]:
    """Clients who opened their link and see the first questionnaire (not measured)."""
    recorder = Recorder()
    opened: list[OpenVisit] = []
    queue = iter(links)

    async def one() -> None:
        for link in queue:
            session = client_session(base)
            shown = None
            if await timed(recorder, "open link", session, "GET", f"/a/{link}/", 302):
                shown = await timed(recorder, "form page", session, "GET", "/a/", 200)
            if shown is None:
                await session.close()
                continue
            hidden, _ = form_fields(shown[1])
            opened.append(
                OpenVisit(session, hidden["csrfmiddlewaretoken"], prepared.questionnaires[link])
            )

    await asyncio.gather(*(one() for _ in range(concurrency)))
    return opened


async def poster(
    base: str,
    visits: Iterator[OpenVisit],
    choices: dict[str, dict[str, list[str]]],
    recorder: Recorder,
    deadline: float,
    pace: Pace,
    rng: random.Random,
    critical_share: float,
) -> None:
    """Send every questionnaire of already opened visits: the submissions alone."""
    for visit in visits:
        async with visit.session:
            for pk, measure_id in visit.questionnaires:
                if time.monotonic() >= deadline:
                    return
                await pace.wait()
                data = {
                    "csrfmiddlewaretoken": visit.csrf,
                    "administration": str(pk),
                    "action": "submit",
                    **answers(choices[measure_id], rng, critical_share),
                }
                posted = await timed(
                    recorder,
                    "submit",
                    visit.session,
                    "POST",
                    "/a/",
                    302,
                    data=data,
                    headers={"Referer": f"{base}/a/"},
                )
                if posted is None:
                    break


async def _safety(base: str, session: aiohttp.ClientSession, recorder: Recorder) -> str:
    shown = await timed(recorder, "safety page", session, "GET", "/a/safety/", 200)
    if shown is None:
        return ""
    hidden, _ = form_fields(shown[1])
    went = await timed(
        recorder,
        "safety continue",
        session,
        "POST",
        "/a/safety/",
        302,
        data=hidden,
        headers={"Referer": f"{base}/a/safety/"},
    )
    return went[0].headers.get("Location", "") if went else ""


async def clinician(
    base: str,
    cookie: tuple[str, str],
    episodes: list[int],
    recorder: Recorder,
    deadline: float,
    think: float,
    rng: random.Random,
) -> None:
    """A clinician opening their clients' pages one after another."""
    if not episodes:
        return
    if think:  # clinicians with think time do not all start at the same instant
        await pause(rng.uniform(0, think), deadline)
    async with client_session(base) as session:
        session.cookie_jar.update_cookies({cookie[0]: cookie[1]})
        while time.monotonic() < deadline:
            pk = rng.choice(episodes)
            await timed(recorder, "client page", session, "GET", f"/o/{SLUG}/episodes/{pk}/", 200)
            if think:
                await pause(rng.expovariate(1 / think), deadline)


# --- The server ---------------------------------------------------------------------------------


def server_env(db: str) -> dict[str, str]:
    return {
        **os.environ,
        **database_env(db),
        "DJANGO_SETTINGS_MODULE": "ally.web.settings",  # production's
        "ALLY_LOCAL_HTTP": "1",  # plain HTTP on 127.0.0.1, as `ally serve`
        "ALLY_ALLOWED_HOSTS": HOST,
        "ALLY_BASE_URL": "http://127.0.0.1",
    }


def start_server(args: argparse.Namespace) -> subprocess.Popen[bytes]:
    port, workers, threads = args.port, args.workers, args.threads
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "ally.web.wsgi:application",
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        str(workers),
        "--backlog",
        "2048",
        "--timeout",
        "60",
        "--error-logfile",
        str(DATA_DIR / "gunicorn.log"),
    ]
    if threads > 1:
        command += ["--threads", str(threads)]
    env = server_env(args.db)
    (DATA_DIR / "gunicorn.log").unlink(missing_ok=True)
    server = subprocess.Popen(command, env=env, cwd=ROOT)
    base = f"http://{HOST}:{port}"
    for _ in range(300):
        try:
            import urllib.request

            with urllib.request.urlopen(f"{base}/accounts/login/", timeout=2):
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit(f"gunicorn did not answer on {base}; see {DATA_DIR / 'gunicorn.log'}")


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


# --- Phases -------------------------------------------------------------------------------------


async def run_phase(
    name: str,
    args: argparse.Namespace,
    prepared: Prepared,
    visits: Visits,
    server: psutil.Process,
    warm_up: bool = False,
) -> dict[str, Any]:
    base = f"http://{HOST}:{args.port}"
    recorder = Recorder()
    rng = random.Random(args.seed)
    seconds = {"form": args.form_seconds, "submit": args.submit_seconds}.get(
        name, args.clinic_seconds
    )
    if warm_up:
        # Each worker's first requests load templates, measures and the engine: not measured.
        seconds = args.warm_up_seconds
    before = load_average()
    cpu = Cpu(server, args.db)
    began = time.monotonic()
    deadline = began + seconds
    if name == "form":
        tasks = [
            reader(base, visits, recorder, deadline, args.views, args.form_think)
            for _ in range(args.users)
        ]
    elif name == "submit" and args.submit_style == "posts":
        wanted = args.submit_visits or int(seconds * args.submit_rate / 2.5) + args.submit_users
        links = [link for link in (visits.next() for _ in range(wanted)) if link]
        ready = await open_visits(base, links, prepared, args.workers * 2)
        print(f"  {len(ready):,} visits opened for the submissions", flush=True)
        before = load_average()
        cpu = Cpu(server, args.db)
        began = time.monotonic()
        deadline = began + seconds
        pace = Pace(args.submit_rate)
        shared = iter(ready)
        tasks = [
            poster(
                base, shared, prepared.choices, recorder, deadline, pace, rng, args.critical_share
            )
            for _ in range(args.submit_users)
        ]
    elif name == "submit":
        pace = Pace(args.submit_rate)
        tasks = [
            submitter(base, visits, recorder, deadline, pace, rng, args.critical_share)
            for _ in range(args.submit_users)
        ]
    else:
        tasks = [
            clinician(
                base,
                (prepared.cookie_name, cookie),
                episodes,
                recorder,
                deadline,
                args.clinic_think,
                random.Random(args.seed + i),
            )
            for i, (cookie, episodes) in enumerate(prepared.staff[: args.users])
        ]
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - began
    if name == "submit" and args.submit_style == "posts":
        for left in shared:
            await left.session.close()
    return {
        "phase": name,
        "seconds": elapsed,
        "load_before": before,
        "cpu": cpu.since_start(),
        "requests": summary(recorder, elapsed),
    }


def print_phase(result: dict[str, Any]) -> None:
    cpu = result["cpu"]
    print(
        f"\n## {result['phase']} ({result['seconds']:.0f} s; load before {result['load_before']};"
        f" cores used: server {cpu['server_cores']:.2f}, postgres {cpu['postgres_cores']:.2f},"
        f" driver {cpu['driver_cores']:.2f})"
    )
    print("| request | count | per s | errors | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, row in result["requests"].items():
        print(
            f"| {name} | {row['count']:,} | {row['per_second']:.1f} | {row['errors']} | "
            f"{row['p50_ms']:.0f} | {row['p95_ms']:.0f} | {row['p99_ms']:.0f} | "
            f"{row['max_ms']:.0f} |"
        )
        if row["error_kinds"]:
            print(f"|  errors: {row['error_kinds']} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phases", default="form,submit,clinic")
    parser.add_argument("--db", default=DB_NAME, help="The database web_data.py built.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--workers", type=int, default=2 * (os.cpu_count() or 1) + 1, help="gunicorn workers."
    )
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker.")
    parser.add_argument("--users", type=int, default=50, help="Readers and clinicians at once.")
    parser.add_argument("--views", type=int, default=5, help="Form page views per opened link.")
    parser.add_argument("--form-think", type=float, default=0.0, help="Mean pause (s).")
    parser.add_argument("--form-seconds", type=float, default=60)
    parser.add_argument("--submit-rate", type=float, default=200, help="Submissions a second.")
    parser.add_argument("--submit-users", type=int, default=100)
    parser.add_argument("--submit-seconds", type=float, default=300)
    parser.add_argument(
        "--submit-visits",
        type=int,
        default=0,
        help="posts style: visits to open first (default: enough for the rate and duration).",
    )
    parser.add_argument("--critical-share", type=float, default=0.03)
    parser.add_argument(
        "--submit-style",
        choices=["flow", "posts"],
        default="flow",
        help="flow: each client opens the link, sees each form and sends it (all measured); "
        "posts: visits are opened first (not measured), then only the submissions are sent.",
    )
    parser.add_argument("--clinic-seconds", type=float, default=60)
    parser.add_argument("--clinic-think", type=float, default=0.0, help="Mean pause (s).")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--warm-up-seconds", type=float, default=10, help="Unmeasured load before each phase."
    )
    parser.add_argument("--out", type=Path, help="Write the results as JSON here.")
    args = parser.parse_args(argv)
    phases = [p for p in args.phases.split(",") if p]

    # The server's settings here too: the same cookie names for the sessions made below.
    os.environ.update(server_env(args.db))
    setup_django(args.db)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)  # a database built by an older Ally: today's schema
    rates = {"form": 150.0, "submit": args.submit_rate / 2.5}
    needed = args.submit_visits + sum(
        int(rates.get(p, 0) * {"form": args.form_seconds, "submit": args.submit_seconds}.get(p, 0))
        for p in phases
    )
    prepared = prepare(max(needed, 1) + 500)
    print(
        f"{len(prepared.links):,} unopened visits, {len(prepared.staff)} clinicians signed in; "
        f"gunicorn with {args.workers} workers x {args.threads} threads",
        flush=True,
    )
    server = start_server(args)
    results: list[dict[str, Any]] = []
    try:
        process = psutil.Process(server.pid)
        visits = Visits(prepared.links)
        for phase in phases:
            if args.warm_up_seconds:
                asyncio.run(run_phase(phase, args, prepared, visits, process, warm_up=True))
            result = asyncio.run(run_phase(phase, args, prepared, visits, process))
            results.append(result)
            print_phase(result)
    finally:
        server.terminate()
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    if args.out:
        args.out.write_text(
            json.dumps({"args": vars(args) | {"out": str(args.out)}, "results": results}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
