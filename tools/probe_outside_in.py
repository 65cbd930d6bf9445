"""Issue 19's outside-in probes, run again: a real `ally serve` of this checkout, probed as an
attacker and an operator would, over HTTP, on the filesystem and through processes.

    PYTHONPATH=src .venv/bin/python tools/probe_outside_in.py [--keep]

It starts `ally serve` with the demo practice in a fresh temporary data folder on a free port of
127.0.0.1 (under umask 000, the worst a service manager may set), then runs one check per finding
of issue 19 and a compact access-control sweep, prints one line per check (PASS or FAIL and what
was seen) and exits 1 on any FAIL. Every request count and wait is bounded; a run takes a few
minutes, most of it loading the demo. The server is stopped with `kill -9` at the end (finding 7).

What the operator does besides HTTP: reads demo-logins.txt for the demo's password; makes the
sweep's rows of every kind with `ally manage shell` (tests/web/test_every_view.py's own
`_objects`); changes a stored practice name and a session's expiry in the SQLite file, as time or
an older Ally would have; runs `ally backup`, `ally restore` and `ally manage purge_expired`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import csv
import datetime as dt
import io
import ipaddress
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess  # nosec B404 # runs this checkout's own `ally` commands, fixed arguments
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "src"
served = [SOURCES]
"""The sources `ally` runs from: this checkout's, or those of --checkout."""
WEB_TESTS = ROOT / "tests" / "web"
ALLY = Path(sys.executable).with_name("ally")
HOST = "127.0.0.1"
STRANGER = "127.0.0.2"
"""Another address on this machine (all of 127.0.0.0/8 is loopback): the guesser's."""
LOCKOUT_MINUTES = 1
"""The server's cool-off (ALLY_LOCKOUT_MINUTES, 15 by default), short so that the run sees a lock
end by itself."""
START_SECONDS = 900
"""Longest wait for `ally serve` to load the demo and listen (about two minutes on 2 cores)."""
TIMEOUT = httpx.Timeout(60.0)
PRIVATE_BITS = 0o077
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet runs at the start of a cell (OWASP, "CSV Injection")."""
HIDDEN = "\u202e"
"""RIGHT-TO-LEFT OVERRIDE: turns the rest of a line around on screen."""
INVISIBLE = "\u200b"
"""ZERO WIDTH SPACE."""
DRAFT = {"1": "2", "2": "3", "9": "3"}
"""A client's answers saved for later: PHQ-9 item 9 (thoughts of self-harm) among them."""
PHQ9_MILD = {str(n): a for n, a in enumerate([1, 1, 1, 1, 1, 0, 1, 1, 0], start=1)}


# Results ----------------------------------------------------------------------------------------


@dataclass
class Check:
    name: str
    failures: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)

    def expect(self, ok: bool, what: str) -> bool:
        """Record `what` was seen; a failure when not `ok`."""
        (self.seen if ok else self.failures).append(what)
        return ok

    @property
    def passed(self) -> bool:
        return not self.failures

    def line(self) -> str:
        shown = "; ".join(self.failures if self.failures else self.seen)
        return f"{'PASS' if self.passed else 'FAIL'} {self.name}: {shown}"


class ProbeError(Exception):
    """A step the probe needs did not work (the check fails, saying which step)."""


# Pages ------------------------------------------------------------------------------------------


class _Forms(HTMLParser):
    """The inputs of a page's forms (name, value; the checked one of radios), and <code> texts."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.codes: dict[str, str] = {}
        self._code: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "input" and found.get("name"):
            if found.get("type") in ("radio", "checkbox") and "checked" not in found:
                self.fields.setdefault(found["name"], "")
                return
            self.fields[found["name"]] = found.get("value", "")
        if tag == "code" and found.get("id"):
            self._code = found["id"]

    def handle_data(self, data: str) -> None:
        if self._code:
            self.codes[self._code] = self.codes.get(self._code, "") + data

    def handle_endtag(self, tag: str) -> None:
        if tag == "code":
            self._code = None


def page_fields(html: str) -> _Forms:
    parsed = _Forms()
    parsed.feed(html)
    return parsed


def csrf_token(html: str) -> str:
    token = page_fields(html).fields.get("csrfmiddlewaretoken")
    if not token:
        raise ProbeError("no CSRF token on the page")
    return token


def hotp(secret: str, counter: int) -> str:
    """The code an authenticator app shows for `counter` (RFC 4226 through django-otp)."""
    from django_otp.oath import hotp as oath_hotp  # type: ignore[import-untyped]

    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    return f"{oath_hotp(key, counter, 6):06d}"


# The server -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def ally_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This checkout's sources first; no database settings of the shell (SQLite in the folder)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALLY_DB")}
    env.pop("ALLY_DATABASE_URL", None)
    env.pop("ALLY_DATA_DIR", None)
    env["PYTHONPATH"] = os.pathsep.join([str(served[0]), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    return env | (extra or {})


def ally(
    args: list[str], *, umask: int = 0o022, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # nosec B603
        [str(ALLY), *args],
        env=ally_env(extra),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        preexec_fn=lambda: os.umask(umask),  # nothing threaded runs yet
    )


@dataclass
class Server:
    folder: Path
    port: int
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_server(folder: Path, log: Path, *, demo: bool, umask: int) -> Server:
    port = free_port()
    args = [str(ALLY), "serve", "--host", HOST, "--port", str(port), "--data-dir", str(folder)]
    args += ["--workers", "2", "--demo" if demo else "--no-demo"]
    extra = {"ALLY_LOCKOUT_MINUTES": str(LOCKOUT_MINUTES)}
    with log.open("wb") as out:
        process = subprocess.Popen(  # nosec B603
            args,
            env=ally_env(extra),
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: os.umask(umask),
        )
    server = Server(folder, port, log, process)
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ProbeError(f"`ally serve` stopped at start:\n{server.log_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(server.base + "/accounts/login/", timeout=5).status_code == 200:
                return server
        time.sleep(1)
    process.kill()
    raise ProbeError(f"`ally serve` did not answer within {START_SECONDS} s")


# People -----------------------------------------------------------------------------------------


def browser(server: Server, source: str = HOST) -> httpx.Client:
    """A browser on this machine, from `source` (another loopback address is another client)."""
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=server.base, transport=transport, timeout=TIMEOUT)


@dataclass
class Staff:
    """The demo's members as their authenticator apps know them: each one's secret, and the
    last time step each used (a code is taken once)."""

    server: Server
    password: str
    secrets: dict[str, str] = field(default_factory=dict)
    used: dict[str, int] = field(default_factory=dict)
    signed_in: dict[str, httpx.Client] = field(default_factory=dict)

    def code(self, email: str) -> str:
        now = int(time.time() // 30)
        counter = max(now, self.used.get(email, -1) + 1)
        if counter > now + 1:  # RFC 6238's one step of tolerance is spent: wait for the next
            time.sleep((counter - 1) * 30 - time.time() + 0.5)
        self.used[email] = counter
        return hotp(self.secrets[email], counter)

    def password_step(self, client: httpx.Client, typed: str, password: str) -> httpx.Response:
        page = client.get("/accounts/login/")
        data = {"csrfmiddlewaretoken": csrf_token(page.text), "username": typed}
        return client.post("/accounts/login/", data=data | {"password": password})

    def sign_in(self, email: str, *, typed: str | None = None, source: str = HOST) -> httpx.Client:
        """`email` signed in on a new browser: password, then a code (setting the app up first
        when the account has none)."""
        client = browser(self.server, source)
        reply = self.password_step(client, typed or email, self.password)
        if reply.status_code != 302 or reply.headers["location"] != "/accounts/two-factor/":
            raise ProbeError(f"the password step of {email} gave {reply.status_code}")
        reply = client.get("/accounts/two-factor/")
        if reply.status_code == 302 and "setup" in reply.headers["location"]:
            page = client.get(reply.headers["location"])
            secret = page_fields(page.text).codes.get("totp-secret", "").replace(" ", "")
            if not secret:
                raise ProbeError(f"no authenticator secret on {email}'s set-up page")
            self.secrets[email] = secret
            data = {"csrfmiddlewaretoken": csrf_token(page.text), "code": self.code(email)}
            reply = client.post("/accounts/two-factor/setup/", data=data)
        else:
            data = {"csrfmiddlewaretoken": csrf_token(reply.text), "code": self.code(email)}
            reply = client.post("/accounts/two-factor/", data=data)
        if reply.status_code != 302:
            raise ProbeError(f"the code step of {email} gave {reply.status_code}")
        return client

    def member(self, email: str) -> httpx.Client:
        """A signed-in browser of `email`, reused across checks."""
        if email not in self.signed_in:
            self.signed_in[email] = self.sign_in(email)
        return self.signed_in[email]


def post_form(client: httpx.Client, url: str, data: dict[str, str], page: str = "") -> Any:
    """A form posted as a browser does: the page first, for its CSRF token."""
    html = client.get(page or url).text
    return client.post(url, data={"csrfmiddlewaretoken": csrf_token(html), **data})


def api(client: httpx.Client, method: str, url: str, body: Any = None, **headers: str) -> Any:
    """The JSON API as a signed-in member's script calls it (session cookie and CSRF header)."""
    token = client.cookies.get("csrftoken") or ""
    sent = {"X-CSRFToken": token, **headers}
    if method == "get":
        return client.get(url, headers=sent)
    content = body if isinstance(body, str) else json.dumps(body or {})
    sent["Content-Type"] = "application/json"
    return client.post(url, content=content.encode(), headers=sent)


# The operator's rows ----------------------------------------------------------------------------

FIXTURE = """
import json, sys, datetime as dt
sys.path.insert(0, {tests!r})
from django.utils import timezone
from web_practice import episode_for
from test_every_view import _objects
from ally.web.practice.models import Membership, Session
def who(email):
    return Membership.objects.get(user__email=email)
mine, colleague, outsider = who({mine!r}), who({colleague!r}), who({outsider!r})
tag = {tag!r}
rows = {{
    "own": _objects(episode_for(mine, "PROBE-OWN-" + tag)),
    "other": _objects(episode_for(colleague, "PROBE-OTHER-" + tag)),
    "elsewhere": _objects(episode_for(outsider, "PROBE-ELSE-" + tag)),
}}
ending = episode_for(mine, "PROBE-END-" + tag)
today = timezone.localtime().replace(hour=0, minute=5, second=0, microsecond=0)
last = Session.objects.create(organisation=ending.organisation, episode=ending, number=1,
    scheduled_at=today)
later = Session.objects.create(organisation=ending.organisation, episode=ending, number=2,
    scheduled_at=today + dt.timedelta(days=3))
rows["ending"] = {{"episode": ending.pk, "last": last.pk, "later": later.pk}}
rows["members"] = {{m.user.email: m.pk for m in (mine, colleague, outsider)}}
print(json.dumps(rows))
"""


def operator_rows(server: Server, emails: dict[str, str]) -> dict[str, Any]:
    script = FIXTURE.format(tests=str(WEB_TESTS), tag=str(server.port), **emails)
    done = ally(["manage", "--data-dir", str(server.folder), "shell", "-c", script])
    if done.returncode != 0:
        raise ProbeError(f"the operator's rows were not made:\n{done.stderr[-2000:]}")
    rows: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return rows


def database(server: Server) -> Path:
    return server.folder / "ally.sqlite3"


def sql(server: Server, statement: str, *args: Any) -> list[tuple[Any, ...]]:
    """The operator at the SQLite file (the server keeps running: WAL allows it)."""
    with contextlib.closing(sqlite3.connect(database(server), timeout=30)) as db, db:
        return db.execute(statement, args).fetchall()


# Finding 1: files private -----------------------------------------------------------------------


def open_entries(folder: Path) -> list[str]:
    """What in `folder` (itself included, any depth) other users may read, enter or write."""
    found = []
    for path in [folder, *folder.rglob("*")]:
        info = path.lstat()
        if not path.is_symlink() and info.st_mode & PRIVATE_BITS:
            found.append(f"{path.relative_to(folder.parent)} {oct(info.st_mode & 0o777)}")
    return found


def _private(check: Check, folder: Path, what: str) -> None:
    wide = open_entries(folder)
    shown = len(list(folder.rglob("*"))) + 1
    check.expect(
        not wide, f"{what}: " + (f"open to others: {wide[:4]}" if wide else f"{shown} private")
    )


def check_files_private(server: Server, work: Path) -> Check:
    check = Check("1 data folder, database and backups private (umask 000 and 022)")
    _private(check, server.folder, "data folder of serve under umask 000")
    for umask, name in ((0o022, "backup-022.ally"), (0o000, "backup-000.ally")):
        target = work / name
        done = ally(["backup", str(target), "--data-dir", str(server.folder)], umask=umask)
        if not check.expect(done.returncode == 0, f"backup under {umask:03o} made"):
            check.failures.append(done.stderr[-500:])
            continue
        mode = target.stat().st_mode & 0o777
        check.expect(mode & PRIVATE_BITS == 0, f"{name} {mode:o}")
    _private(check, server.folder, "data folder after the backups")
    restored = work / "restored-000"
    key = server.folder / "backup_key"
    restore = ["restore", str(work / "backup-022.ally"), "--yes", "--key-file", str(key)]
    done = ally([*restore, "--data-dir", str(restored)], umask=0o000)
    if check.expect(done.returncode == 0, "restore under 000 into a new folder"):
        _private(check, restored, "restored folder")
    else:
        check.failures.append(done.stderr[-500:])
    fresh = work / "fresh-022"
    done = ally(["manage", "--data-dir", str(fresh), "migrate", "-v", "0"], umask=0o022)
    check.expect(done.returncode == 0, "migrate under 022 into a new folder")
    _private(check, fresh, "its folder")
    return check


# Finding 2: lockout -----------------------------------------------------------------------------


@dataclass
class Lockout:
    email: str
    last_try: float = 0.0


def check_lockout_start(staff: Staff, email: str) -> tuple[Check, Lockout]:
    check = Check("2 guessing locks the guesser's address only, for the cool-off")
    lock = Lockout(email)
    guesser = browser(staff.server, STRANGER)
    statuses = []
    for n in range(5):
        statuses.append(staff.password_step(guesser, email, f"wrong-{n}").status_code)
    lock.last_try = time.time()
    check.expect(statuses[-1] in (200, 403), f"5 wrong passwords from {STRANGER}: {statuses}")
    right = staff.password_step(guesser, email, staff.password)
    lock.last_try = time.time()
    check.expect(
        right.status_code == 403 and "locked" in right.text.lower(),
        f"then the right password from {STRANGER}: {right.status_code} (locked page)",
    )
    forged = browser(staff.server, STRANGER)
    forged.headers["X-Forwarded-For"] = "203.0.113.9"
    reply = staff.password_step(forged, email, staff.password)
    lock.last_try = time.time()
    check.expect(reply.status_code == 403, f"with a forged X-Forwarded-For: {reply.status_code}")
    try:
        staff.sign_in(email, source=HOST)
        check.expect(True, f"the member signs in from {HOST} meanwhile")
    except ProbeError as exc:
        check.expect(False, f"the member is locked out from {HOST} too: {exc}")
    return check, lock


def check_lockout_end(staff: Staff, check: Check, lock: Lockout) -> Check:
    wait = lock.last_try + LOCKOUT_MINUTES * 60 + 5 - time.time()
    if wait > 0:
        time.sleep(wait)
    guesser = browser(staff.server, STRANGER)
    reply = staff.password_step(guesser, lock.email, staff.password)
    check.expect(
        reply.status_code == 302,
        f"after the {LOCKOUT_MINUTES}-minute cool-off the right password passes: "
        f"{reply.status_code}",
    )
    return check


# Finding 3: ended episodes ----------------------------------------------------------------------


def client_link(clinician: httpx.Client, org: str, administration: int) -> str:
    page = clinician.get(f"/o/{org}/forms/{administration}/")
    found = re.search(r"https?://[^\"'<\s]+(/a/[A-Za-z0-9:_\-.]+/)", page.text)
    if not found:
        raise ProbeError(
            f"no client link on the form page of {administration} ({page.status_code})"
        )
    return found.group(1)


def open_visit(server: Server, link: str) -> tuple[httpx.Client, httpx.Response]:
    """A client's browser opening their link: the answer page it leads to."""
    client = browser(server)
    opened = client.get(link)
    if opened.status_code != 302:
        return client, opened
    return client, client.get(opened.headers["location"])


def answer_page(
    client: httpx.Client, page: httpx.Response, answers: dict[str, Any], action: str
) -> httpx.Response:
    fields = page_fields(page.text).fields
    data = {
        k: v for k, v in fields.items() if k in ("csrfmiddlewaretoken", "administration", "key")
    }
    data |= {f"item_{n}": v for n, v in answers.items()}
    return client.post("/a/", data=data | {"action": action})


def create_form(clinician: httpx.Client, org: str, episode: int, **body: Any) -> httpx.Response:
    url = f"/api/o/{org}/episodes/{episode}/administrations"
    reply: httpx.Response = api(clinician, "post", url, {"measure_id": "phq9", **body})
    return reply


def check_ended_episode(server: Server, clinician: httpx.Client, org: str, rows: Any) -> Check:
    check = Check("3 an ended episode's forms take no answers (but the last session's grace)")
    episode, last, later = rows["episode"], rows["last"], rows["later"]
    loose = create_form(clinician, org, episode)
    body = loose.json() if loose.status_code == 201 else {}
    check.expect(
        bool(body.get("expires_at")),
        f"API form without a session expires: {body.get('expires_at')}",
    )
    forms = {}
    for name, session in (("last", last), ("later", later)):
        reply = create_form(clinician, org, episode, session_id=session)
        if not check.expect(
            reply.status_code == 201, f"{name} session's form: {reply.status_code}"
        ):
            return check
        forms[name] = reply.json()["id"]
    links = {name: client_link(clinician, org, pk) for name, pk in forms.items()}
    waiting, waiting_page = open_visit(server, links["later"])
    check.expect(
        waiting_page.status_code == 200,
        f"later form opened before the end: {waiting_page.status_code}",
    )
    today = dt.date.today().isoformat()
    end_url = f"/o/{org}/episodes/{episode}/end/"
    ended = post_form(clinician, end_url, {"ended_on": today, "reason": "other"})
    check.expect(ended.status_code == 302, f"episode ended: {ended.status_code}")
    sent = answer_page(waiting, waiting_page, PHQ9_MILD, "submit")
    check.expect(
        sent.status_code in (404, 409, 410), f"answers sent in the open visit: {sent.status_code}"
    )
    _client, reopened = open_visit(server, links["later"])
    check.expect(
        reopened.status_code in (404, 410),
        f"later form's link after the end: {reopened.status_code}",
    )
    reply = api(
        clinician,
        "post",
        f"/api/o/{org}/administrations/{forms['later']}/responses",
        {"answers": PHQ9_MILD},
        **{"Idempotency-Key": f"probe-later-{server.port}"},
    )
    check.expect(reply.status_code == 409, f"API answers to the later form: {reply.status_code}")
    reply = create_form(clinician, org, episode)
    check.expect(
        reply.status_code == 409, f"API new form on the ended episode: {reply.status_code}"
    )
    grace, grace_page = open_visit(server, links["last"])
    taken = (
        answer_page(grace, grace_page, PHQ9_MILD, "submit")
        if grace_page.status_code == 200
        else grace_page
    )
    check.expect(
        grace_page.status_code == 200 and taken.status_code == 302,
        f"last session's form within the grace: opened {grace_page.status_code}, "
        f"answers {taken.status_code}",
    )
    listed = api(clinician, "get", f"/api/o/{org}/episodes/{episode}/administrations").json()
    states = {a["id"]: a["status"] for a in listed}
    check.expect(
        states.get(forms["later"]) != "completed" and states.get(forms["last"]) == "completed",
        f"stored: later {states.get(forms['later'])}, last {states.get(forms['last'])}",
    )
    return check


# Finding 4: answer keys -------------------------------------------------------------------------


def answers_url(org: str, administration: int) -> str:
    return f"/api/o/{org}/administrations/{administration}/responses"


def check_answer_keys(
    clinician: httpx.Client, outsider: httpx.Client, org: str, episode: int
) -> Check:
    check = Check("4 answer keys that are not ASCII digits are a 4xx that says so, never a 500")
    for number, key in enumerate(("²", "①")):
        form = create_form(clinician, org, episode).json()["id"]
        body = {"answers": {**PHQ9_MILD, key: 1}}
        idempotency = {"Idempotency-Key": f"probe-key-{number}-{form}"}
        reply = api(clinician, "post", answers_url(org, form), body, **idempotency)
        said = "is not an item number" in reply.text
        check.expect(
            400 <= reply.status_code < 500 and said,
            f"{key!r} as the clinician: {reply.status_code}{' naming it' if said else ''}",
        )
        reply = api(outsider, "post", answers_url(org, form), body, **idempotency)
        check.expect(reply.status_code == 404, f"{key!r} as another practice: {reply.status_code}")
    return check


# Finding 5: the audit export --------------------------------------------------------------------

HOSTILE_EMAIL = "=2+5@evil.example"
FORGED = ("6.6.6.6", "=cmd|' /C calc'!A0")


def confirm_then(staff: Staff, client: httpx.Client, email: str, url: str) -> None:
    """The account page's re-authentication (password and a current code), then `url`."""
    page = client.get(f"/accounts/security/confirm/?next={url}")
    data = {"csrfmiddlewaretoken": csrf_token(page.text), "next": url}
    data |= {"password": staff.password, "code": staff.code(email)}
    reply = client.post("/accounts/security/confirm/", data=data)
    if reply.status_code != 302:
        raise ProbeError(f"re-authentication of {email} gave {reply.status_code}")


def check_audit_export(staff: Staff, admin: httpx.Client, researcher: str, org: str) -> Check:
    from django.urls import reverse

    check = Check("5 audit CSV: no formula cells, the ip column ignores X-Forwarded-For")
    member = staff.member(researcher)
    confirm_then(staff, member, researcher, "/accounts/security/email/")
    changed = post_form(member, "/accounts/security/email/", {"email": HOSTILE_EMAIL})
    check.expect(
        changed.status_code == 302,
        f"a member's email set to {HOSTILE_EMAIL}: {changed.status_code}",
    )
    caseload = reverse("clinic:caseload", kwargs={"org": org})
    for forged in FORGED:
        reply = member.get(caseload, headers={"X-Forwarded-For": forged})
        check.expect(reply.status_code == 200, f"read with X-Forwarded-For {forged!r}")
    export = admin.get(reverse("auditlog:export", kwargs={"org": org}))
    if not check.expect(export.status_code == 200, f"export {export.status_code}"):
        return check
    header, *rows = list(csv.reader(io.StringIO(export.text)))
    number = re.compile(r"^-?\d+(\.\d+)?$")
    formulas = [
        c for row in rows for c in row if c.startswith(FORMULA_START) and not number.match(c)
    ]
    check.expect(not formulas, f"{len(rows)} rows, formula cells: {formulas[:3]}")
    mine = [row for row in rows if HOSTILE_EMAIL in row[2]]
    check.expect(
        bool(mine) and all(row[2] == "'" + HOSTILE_EMAIL for row in mine),
        f"the email shown as {mine[0][2] if mine else 'nothing'!r}",
    )
    ip = header.index("ip")
    addresses = {row[ip] for row in rows}
    wrong = sorted(a for a in addresses if a and a != "invalid" and not _is_ip(a))
    check.expect(not wrong, f"ip column not an address: {wrong[:3]}")
    check.expect(
        not any(f in addresses for f in FORGED) and {row[ip] for row in mine} <= {HOST},
        f"forged addresses absent; the member's reads from {sorted({row[ip] for row in mine})}",
    )
    return check


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# Finding 6: drafts at rest, expired sessions purged ---------------------------------------------


def decoded_sessions(server: Server) -> dict[str, Any]:
    """Every row of Django's session table as someone who copied the file reads it: the signed
    payload is only base64 (and zlib), not encrypted."""
    found = {}
    for key, data in sql(server, "SELECT session_key, session_data FROM django_session"):
        payload = data.split(":", 1)[0]
        raw = base64.urlsafe_b64decode(payload.lstrip(".") + "=" * (-len(payload.lstrip(".")) % 4))
        found[key] = json.loads(zlib.decompress(raw) if payload.startswith(".") else raw)
    return found


def _holds_answers(value: Any) -> bool:
    if isinstance(value, dict):
        if all(value.get(k) == v for k, v in DRAFT.items()):
            return True
        return any(_holds_answers(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_answers(v) for v in value)
    return False


def check_drafts_at_rest(server: Server, clinician: httpx.Client, org: str, episode: int) -> Check:
    check = Check("6 saved answers not readable in the database file; expired sessions purged")
    form = create_form(clinician, org, episode).json()["id"]
    visit, page = open_visit(server, client_link(clinician, org, form))
    saved = answer_page(visit, page, DRAFT, "save")
    check.expect(
        saved.status_code == 302 and "saved" in saved.headers.get("location", ""), "draft saved"
    )
    sessions = decoded_sessions(server)
    key = visit.cookies.get("sessionid") or ""
    drafts = sessions.get(key, {}).get("ally_respond", {}).get("drafts", {})
    check.expect(
        str(form) in drafts, f"the visit's row holds a draft: {sorted(drafts.get(str(form), {}))}"
    )
    readable = [k[:6] for k, data in sessions.items() if _holds_answers(data)]
    check.expect(not readable, f"answers readable in {len(readable)} of {len(sessions)} sessions")
    files = [database(server), database(server).with_name("ally.sqlite3-wal")]
    raw = b"".join(p.read_bytes() for p in files if p.exists())
    plain = [b'{"1": "2", "2": "3", "9": "3"}', b'{"1":"2","2":"3","9":"3"}']
    check.expect(not any(p in raw for p in plain), "no draft in the raw bytes of the files")
    staff_key = clinician.cookies.get("sessionid") or ""
    sql(
        server,
        "UPDATE django_session SET expire_date = ? WHERE session_key = ?",
        "2000-01-01 00:00:00",
        key,
    )
    done = ally(["manage", "--data-dir", str(server.folder), "purge_expired"])
    left = {k for (k,) in sql(server, "SELECT session_key FROM django_session")}
    check.expect(
        done.returncode == 0 and key not in left and staff_key in left,
        f"purge_expired: expired visit {'kept' if key in left else 'deleted'}, live staff "
        f"session {'kept' if staff_key in left else 'deleted'}",
    )
    return check


# Finding 7: processes ---------------------------------------------------------------------------

CONTROL = "gunicorn.ctl"


def check_control_sockets(first: Server, second: Server) -> Check:
    check = Check("7a two instances on one host have control sockets of their own")
    for server in (first, second):
        path = server.folder / CONTROL
        said = f"Control socket listening at {path}" in server.log_text()
        check.expect(path.is_socket() and said, f"{path.parent.name}/{CONTROL} a socket, in use")
    return check


STOP_SECONDS = 5
"""How soon after the master's SIGKILL every worker must stop serving (finish the request in hand,
take no other): the finding was a worker that went on writing for minutes."""
GONE_SECONDS = 20
"""How soon its process must be gone: after it stops serving, Python's teardown of a Django
worker takes a few seconds more of CPU on a busy machine."""
WORKER_EXITING = re.compile(
    r"^\[([-\d]+ [:\d]+ [-+]\d{4})\] \[\d+\] \[INFO\] Worker exiting \(pid: (\d+)\)", re.M
)


def burst(
    clinician: httpx.Client, org: str, episode: int, stop: threading.Event, answered: list[float]
) -> None:
    """Submissions in flight until `stop`: forms created and answered; when each answer was
    acknowledged goes to `answered`."""
    for n in range(200):
        if stop.is_set():
            return
        with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
            form = create_form(clinician, org, episode).json()["id"]
            key = {"Idempotency-Key": f"probe-burst-{threading.get_ident()}-{n}"}
            reply = api(clinician, "post", answers_url(org, form), {"answers": PHQ9_MILD}, **key)
            if reply.status_code == 201:
                answered.append(time.time())


def check_kill_master(server: Server, clinician: httpx.Client, org: str, episode: int) -> Check:
    check = Check("7b kill -9 of the serve master during submissions leaves no worker")
    master = psutil.Process(server.process.pid)
    workers = master.children(recursive=True)
    check.expect(len(workers) >= 2, f"{len(workers)} workers")
    stop = threading.Event()
    answered: list[float] = []
    senders = [
        threading.Thread(target=burst, args=(clinician, org, episode, stop, answered))
        for _ in range(2)
    ]
    for sender in senders:
        sender.start()
    time.sleep(5)
    before = len(answered)
    killed = time.time()
    os.kill(master.pid, signal.SIGKILL)
    server.process.wait(10)
    gone: dict[int, float] = {}
    while time.time() - killed < GONE_SECONDS and len(gone) < len(workers):
        gone |= {
            w.pid: time.time() - killed for w in workers if w.pid not in gone and not _alive(w)
        }
        time.sleep(0.1)
    stop.set()
    for sender in senders:
        sender.join(60)
    check.expect(before > 0, f"{before} answers acknowledged before the kill")
    exits = {
        int(pid): dt.datetime.strptime(at, "%Y-%m-%d %H:%M:%S %z").timestamp() - int(killed)
        for at, pid in WORKER_EXITING.findall(server.log_text())
    }
    for worker in workers:
        stopped = exits.get(worker.pid)
        check.expect(
            stopped is not None and stopped <= STOP_SECONDS,
            f"worker {worker.pid} stopped serving "
            + (f"within {stopped:.0f} s" if stopped is not None else "never (no exit logged)"),
        )
        after = gone.get(worker.pid)
        check.expect(
            after is not None,
            f"and was gone {after:.1f} s after the kill"
            if after is not None
            else f"and was still running {GONE_SECONDS} s after the kill",
        )
    late = [t - killed for t in answered if t > killed + STOP_SECONDS]
    check.expect(not late, f"answers acknowledged later than {STOP_SECONDS} s after: {len(late)}")
    with socket.socket() as probe:
        refused = probe.connect_ex((HOST, server.port)) != 0
    check.expect(refused, "the port is free")
    return check


def _alive(process: psutil.Process) -> bool:
    try:
        return bool(process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


# Finding 8: text, names, email case, refusals in the log ---------------------------------------


def check_privacy_text(admin: httpx.Client, org: str, client: int) -> Check:
    from django.urls import reverse

    check = Check("8a privacy-page fields refuse direction-changing and invisible characters")
    policy = reverse("privacy:policy", kwargs={"org": org})
    for bad in (HIDDEN, INVISIBLE):
        text = f"Kept ten years.{bad}Then erased."
        reply = post_form(
            admin, policy, {"policy": text}, page=reverse("privacy:register", kwargs={"org": org})
        )
        check.expect(
            reply.status_code in (200, 400), f"policy with U+{ord(bad):04X}: {reply.status_code}"
        )
    register = admin.get(reverse("privacy:register", kwargs={"org": org})).text
    check.expect(HIDDEN not in register and INVISIBLE not in register, "the stored policy is clean")
    refuse = reverse("privacy:refuse", kwargs={"org": org, "pk": client})
    page = reverse("privacy:client", kwargs={"org": org, "pk": client})
    for bad in (HIDDEN, INVISIBLE):
        data = {"exemption": "legal_claims", "reason": f"Court case{bad} pending."}
        reply = post_form(admin, refuse, data, page=page)
        check.expect(
            reply.status_code in (200, 400),
            f"refusal reason with U+{ord(bad):04X}: {reply.status_code}",
        )
    return check


def check_practice_name(
    fresh: Server, main: Server, clinician: httpx.Client, org: str, episode: int
) -> Check:
    check = Check("8b a line break in the practice name: refused where typed, no 500 when sending")
    found = re.search(r"(/setup/\?key=\S+)", fresh.log_text())
    if check.expect(bool(found), "the fresh install's set-up link"):
        setup = browser(fresh)
        url = found.group(1) if found else ""
        page = setup.get(url)
        data = {
            "csrfmiddlewaretoken": csrf_token(page.text),
            "key": page_fields(page.text).fields.get("key", ""),
            "kind": "therapy",
            "client_word": "client",
            "email": "first@probe.example",
            "password": "a long enough pass phrase 7",
        }
        for name in ("North\nPractice", f"North {HIDDEN}Practice"):
            reply = setup.post(url, data=data | {"name": name})
            told = "The practice&#x27;s name:" in reply.text or "The practice's name:" in reply.text
            check.expect(
                reply.status_code == 400 and told,
                f"set-up with name {name!r}: {reply.status_code}, the name "
                + ("refused" if told else "not named among the errors"),
            )
        check.expect(setup.get(url).status_code == 200, "no practice was set up")
    stored = "Demo\nPractice\r\n  East"
    (old,) = sql(main, "SELECT name FROM practice_organisation WHERE slug = ?", org)[0]
    sql(main, "UPDATE practice_organisation SET name = ? WHERE slug = ?", stored, org)
    try:
        form = create_form(clinician, org, episode).json()["id"]
        shown = f"/o/{org}/forms/{form}/"
        reply = post_form(clinician, f"/o/{org}/forms/{form}/send/", {}, page=shown)
        check.expect(
            reply.status_code == 302,
            f"send link by email with {stored!r} stored: {reply.status_code}",
        )
        time.sleep(1)
        subject = "Subject: A short questionnaire from Demo Practice East"
        check.expect(subject in main.log_text(), "the email's subject is one line")
    finally:
        sql(main, "UPDATE practice_organisation SET name = ? WHERE slug = ?", old, org)
    return check


def check_email_case(staff: Staff, email: str) -> Check:
    check = Check("8c sign-in email is case-insensitive")
    typed = email.upper()
    try:
        client = staff.sign_in(email, typed=typed)
        check.expect(client.get("/").status_code == 302, f"signed in as {typed}")
    except ProbeError as exc:
        check.expect(False, f"{typed}: {exc}")
    return check


def check_refusals_logged(server: Server, refusals: int) -> Check:
    check = Check("8d a 403 writes one line to the log, no traceback")
    text = server.log_text()
    check.expect(refusals > 0, f"{refusals} refusals (403) answered during the run")
    check.expect("Traceback" not in text, f"tracebacks in the log: {text.count('Traceback')}")
    return check


# The access-control sweep -----------------------------------------------------------------------


@dataclass
class Tally:
    requests: int = 0
    refusals: int = 0

    def send(self, client: httpx.Client, method: str, url: str, data: Any = None) -> httpx.Response:
        self.requests += 1
        if method == "get":
            reply = client.get(url)
        else:
            token = client.cookies.get("csrftoken") or ""
            reply = client.post(url, data={"csrfmiddlewaretoken": token, **(data or {})})
        self.refusals += reply.status_code == 403
        return reply


def check_staff_views(
    tally: Tally, people: dict[str, httpx.Client], org: str, rows: dict[str, Any]
) -> Check:
    """tests/web/test_every_view.py's role table, walked on the live server."""
    from django.urls import reverse
    from test_every_view import (  # type: ignore[import-untyped]
        ROLES_OF_THE_PRACTICE,
        STAFF_VIEWS,
        _refused,
    )

    check = Check("access control: every staff page for every role")
    wrong = check.failures

    def url(name: str, objects: dict[str, int]) -> str:
        target = STAFF_VIEWS[name][0]
        kwargs: dict[str, Any] = {"org": org}
        if target is not None:
            kwargs["pk"] = objects[target]
        return str(reverse(name, kwargs=kwargs))

    def expect(who: str, name: str, method: str, reply: httpx.Response, allowed: set[int]) -> None:
        if reply.status_code not in allowed:
            wrong.append(f"{who} {method.upper()} {name}: {reply.status_code}")

    for name, (target, writes, roles) in sorted(STAFF_VIEWS.items()):
        own = url(name, rows["own"])
        for who in ("anonymous", "client link"):
            for method in ("get", "post") if who == "anonymous" else ("get",):
                reply = tally.send(people[who], method, own)
                if reply.status_code != 302 or not reply.headers["location"].startswith(
                    "/accounts/login/"
                ):
                    wrong.append(f"{who} {method.upper()} {name}: {reply.status_code}")
        for method in ("get", "post"):
            expect(
                "outsider",
                name,
                method,
                tally.send(people["outsider"], method, own),
                _refused(method),
            )
            if target is not None:
                elsewhere = url(name, rows["elsewhere"])
                reply = tally.send(people["admin"], method, elsewhere)
                expect("admin, other practice's row", name, method, reply, _refused(method))
            if target and target not in {"membership", "api_client", "invitation"}:
                reply = tally.send(people["clinician"], method, url(name, rows["other"]))
                expect("clinician, colleague's row", name, method, reply, _refused(method))
        if writes:
            reply = tally.send(people["researcher"], "post", own, {"note": "x"})
            expect("researcher", name, "post", reply, {403})
        for role in ROLES_OF_THE_PRACTICE:
            reply = tally.send(people[role], "get", own)
            expect(role, name, "get", reply, {200, 405} if role in roles else {403})
    check.seen.append(f"{len(STAFF_VIEWS)} views, {tally.requests} requests, all as expected")
    return check


API_ROLES = {
    "admin": "admin",
    "supervisor": "supervisor",
    "researcher": "researcher",
    "clinician_on_it": "clinician",
    "clinician_not_on_it": "colleague",
    "other_organisation": "outsider",
    "anonymous": "anonymous",
}
"""tests/web/test_api.py's roles, as the people of this run."""


def check_api(
    tally: Tally, people: dict[str, httpx.Client], org: str, rows: dict[str, Any]
) -> Check:
    """tests/web/test_api.py's role table, on the live server: each operation of the served
    OpenAPI spec as every role, with the statuses that table gives its kind of operation."""
    from test_api import CREATE, EXPORT, LISTS, READ, ROLES, WRITE  # type: ignore[import-untyped]

    check = Check("access control: every API operation for every role")
    kinds = {
        "list_episodes": LISTS, "get_episode": READ, "get_episode_feedback": READ,
        "list_episode_administrations": READ, "create_administration": CREATE,
        "record_response": CREATE, "get_goals": READ, "list_alerts": LISTS,
        "mark_alert_seen": WRITE, "act_on_alert": WRITE, "get_research_export": EXPORT,
        "list_groups": LISTS, "get_group": READ, "list_group_sessions": READ,
        "get_group_levels": READ, "get_ending": READ, "end_episode": CREATE,
    }  # fmt: skip
    clinician = people["clinician"]
    own = rows["own"]
    spec = people["anonymous"].get("/api/openapi.json").json()
    operations = [
        (method, path, op["operationId"])
        for path, methods in spec["paths"].items()
        for method, op in methods.items()
    ]
    missing = sorted({op for _, _, op in operations} - set(kinds))
    check.expect(not missing, f"operations served: {len(operations)}; not in the table: {missing}")
    for method, path, operation in operations:
        statuses = kinds.get(operation)
        if statuses is None:
            continue
        for role, status in zip(ROLES, statuses, strict=True):
            if operation == "end_episode" and status == 201:
                # Ending the run's one episode would close it for the checks after this one;
                # that the permitted roles end an episode is tests/web/test_api.py's.
                continue
            values = {"org": org, "episode_id": own["episode"], "group_id": own["group"]}
            if "{administration_id}" in path:
                values["administration_id"] = create_form(clinician, org, own["episode"]).json()[
                    "id"
                ]
            if "{alert_id}" in path:
                values["alert_id"] = fresh_alert(clinician, org, own["episode"])
            url = path.format(**values)
            url += {"list_alerts": "?state=all", "get_research_export": "?dates=year"}.get(
                operation, ""
            )
            body = {
                "create_administration": {"measure_id": "phq9"},
                "record_response": {"answers": PHQ9_MILD},
                "act_on_alert": {"note": "Called; safe."},
                "end_episode": {"reason": "planned"},
            }.get(operation, {})
            key = {"Idempotency-Key": f"probe-{operation}-{role}"}
            tally.requests += 1
            reply = api(people[API_ROLES[role]], method, url, body, **key)
            tally.refusals += reply.status_code == 403
            if reply.status_code != status:
                check.failures.append(f"{role} {operation}: {reply.status_code}, not {status}")
            if "no-store" not in reply.headers.get("cache-control", ""):
                check.failures.append(f"{role} {operation}: cached")
            if "json" in reply.headers.get("content-type", "") and (
                "Name of" in reply.text or "example" in reply.text
            ):
                check.failures.append(f"{role} {operation}: a name or an email in the answer")
    ending = api(clinician, "get", f"/api/o/{org}/episodes/{own['episode']}/ending", {})
    if ending.status_code != 200 or ending.json().get("ended_on") is not None:
        check.failures.append(f"the episode was ended by a refused role: {ending.text[:200]}")
    check.seen.append(
        f"{len(kinds)} operations x {len(ROLES)} roles as expected (ending an episode: the "
        "refused roles only, and the episode is still open)"
    )
    return check


def fresh_alert(clinician: httpx.Client, org: str, episode: int) -> int:
    """A critical-item alert raised now on `episode` (PHQ-9 item 9 answered 2)."""
    form = create_form(clinician, org, episode).json()["id"]
    answers = {**PHQ9_MILD, "9": 2}
    key = {"Idempotency-Key": f"probe-alert-{form}"}
    reply = api(clinician, "post", answers_url(org, form), {"answers": answers}, **key)
    raised = [a["id"] for a in reply.json().get("alerts", [])] if reply.status_code == 201 else []
    if not raised:
        raise ProbeError(f"no alert was raised by a self-harm answer ({reply.status_code})")
    return int(max(raised))


# The run ----------------------------------------------------------------------------------------

ORG = "demo"
PEOPLE = {
    "admin": "admin@demo.ally.example",
    "supervisor": "supervisor@demo.ally.example",
    "researcher": "researcher@demo.ally.example",
    "clinician": "clinician1@demo.ally.example",
    "colleague": "clinician2@demo.ally.example",
    "outsider": "coach1@coaching.ally.example",
}
LOCKED = "clinician3@demo.ally.example"
"""Whom a stranger tries to lock out."""
UPPER_CASE = "coach2@coaching.ally.example"
"""Who signs in typing their email in capitals."""


def run(work: Path) -> list[Check]:
    checks: list[Check] = []

    def guarded(name: str, probe: Callable[[], Check]) -> Check:
        try:
            check = probe()
        except Exception as exc:  # a probe that stops is a failed check, said as such
            check = Check(name)
            check.expect(False, f"probe stopped: {type(exc).__name__}: {exc}")
        checks.append(check)
        print(check.line(), flush=True)
        return check

    print(f"Starting `ally serve` (demo, umask 000) in {work} ...", flush=True)
    main = start_server(work / "data", work / "serve.log", demo=True, umask=0o000)
    fresh = start_server(work / "fresh", work / "fresh.log", demo=False, umask=0o022)
    try:
        password = (main.folder / "demo-logins.txt").read_text().splitlines()[0].split(": ", 1)[1]
        staff = Staff(main, password)
        guarded("1 files private", lambda: check_files_private(main, work))
        lock = Lockout(LOCKED)

        def lockout() -> Check:
            nonlocal lock
            check, lock = check_lockout_start(staff, LOCKED)
            return check

        locked = guarded("2 lockout", lockout)
        rows = operator_rows(
            main,
            {
                "mine": PEOPLE["clinician"],
                "colleague": PEOPLE["colleague"],
                "outsider": PEOPLE["outsider"],
            },
        )
        people = {role: staff.member(email) for role, email in PEOPLE.items()}
        people["anonymous"] = browser(main)
        people["anonymous"].get("/accounts/login/")  # a CSRF cookie, as a visitor has
        link = client_link(
            people["clinician"],
            ORG,
            create_form(people["clinician"], ORG, rows["own"]["episode"]).json()["id"],
        )
        people["client link"], _page = open_visit(main, link)
        tally = Tally()
        guarded("access control: staff pages", lambda: check_staff_views(tally, people, ORG, rows))
        guarded("access control: API", lambda: check_api(tally, people, ORG, rows))
        clinician = people["clinician"]
        guarded(
            "3 ended episode", lambda: check_ended_episode(main, clinician, ORG, rows["ending"])
        )
        own = rows["own"]["episode"]
        guarded("4 answer keys", lambda: check_answer_keys(clinician, people["outsider"], ORG, own))
        guarded("6 drafts", lambda: check_drafts_at_rest(main, clinician, ORG, own))
        guarded(
            "8a privacy text",
            lambda: check_privacy_text(people["admin"], ORG, rows["own"]["client"]),
        )
        guarded("8b practice name", lambda: check_practice_name(fresh, main, clinician, ORG, own))
        guarded("8c email case", lambda: check_email_case(staff, UPPER_CASE))
        guarded(
            "5 audit export",
            lambda: check_audit_export(staff, people["admin"], PEOPLE["researcher"], ORG),
        )
        guarded("7a control sockets", lambda: check_control_sockets(main, fresh))
        checks.remove(locked)
        guarded("2 lockout", lambda: check_lockout_end(staff, locked, lock))
        guarded("8d refusals in the log", lambda: check_refusals_logged(main, tally.refusals))
        guarded("7b kill -9", lambda: check_kill_master(main, clinician, ORG, own))
    finally:
        for server in (main, fresh):
            if server.process.poll() is None:
                server.process.kill()
                server.process.wait(10)
    return checks


def _django(work: Path) -> None:
    """Django's settings in this process, for the role tables and reverse(); a data folder of
    its own (this process opens no database)."""
    os.environ["ALLY_DATA_DIR"] = str(work / "probe-settings")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ally.web.settings")
    sys.path[:0] = [str(SOURCES), str(WEB_TESTS)]
    import django

    django.setup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="Keep the temporary folder.")
    parser.add_argument(
        "--checkout",
        type=Path,
        help="Serve the Ally of another checkout (for example one with a fix undone, to see a "
        "check fail); the role tables still come from this one.",
    )
    args = parser.parse_args(argv)
    if args.checkout:
        served[0] = args.checkout.resolve() / "src"
    work = Path(tempfile.mkdtemp(prefix="ally-probe-"))
    _django(work)
    started = dt.datetime.now(dt.UTC)
    try:
        checks = run(work)
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    failed = [c for c in checks if not c.passed]
    took = (dt.datetime.now(dt.UTC) - started).total_seconds()
    print(
        f"{len(checks) - len(failed)} of {len(checks)} checks passed on {socket.gethostname()}, "
        f"{started:%Y-%m-%d %H:%M} UTC, in {took:.0f} s" + (f"; kept {work}" if args.keep else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
