"""No answer lost and none stored twice when the server dies: clients answer PHQ-9 by their links
against the real server (`ally serve`, gunicorn), the whole server is killed with SIGKILL in the
middle of the burst, restarted on the same database, and the clients send again what was not
acknowledged, as a browser's retry or a page sent again would, plus a few double taps. Some
clients lose the reply to their post on the way, so some answers are surely stored but not
acknowledged when they are sent again.

An answer is acknowledged when the reply to its post sends the client on to the done page; the
write path commits before it replies. The database is then read twice, by a process of its own:
right after the kill (every acknowledged answer survived it) and after the retries (every answer
is stored exactly once, whole, with its audit entry).

The test speaks HTTP to a server in its own process group and reads the database from child
processes: it never uses pytest-django's test database.
"""

from __future__ import annotations

import collections
import contextlib
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
from ally_process import ALLY, ENGINES, ally_environment, run_python

ADMINISTRATIONS = 200
CLIENTS = 40
"""Clients of the practice; each has one episode, and the administrations are shared out."""
BROWSERS = 8
"""Clients answering at the same time."""
KILL_AFTER = ADMINISTRATIONS // 3
"""Acknowledged answers before the kill: a third of the burst."""
DOUBLE_TAPS = 20
"""Answers acknowledged before the kill that are sent once more after the restart."""
REPLY_LOST_EVERY = 7
"""Every seventh client's phone loses the reply to its post (a train enters a tunnel): stored,
never acknowledged, sent again after the restart."""
WORKERS = 3
START_SECONDS = 90.0
"""Longest wait for the server to answer after starting it (migrations run first)."""

# Run in a child process: one practice, its clients, and open PHQ-9s with their link paths.
PREPARE = f"""
import datetime as dt, json
from django.core.management import call_command
from django.urls import reverse
call_command("migrate", verbosity=0)
from ally.web.accounts.models import User
from ally.web.actions.answers import do_create_administration
from ally.web.practice.models import Client, Episode, Membership, Organisation
from ally.web.respond.links import signed_token
org = Organisation.objects.create(name="Burst Practice", slug="burst")
user = User.objects.create_user("clin@burst.example", "a long burst passphrase")
clinician = Membership.objects.create(user=user, organisation=org, role="clinician")
episodes = [
    Episode.objects.create(
        organisation=org,
        client=Client.objects.create(organisation=org, code=f"B-{{n:03d}}"),
        clinician=clinician,
        opened_on=dt.date(2026, 1, 5),
    )
    for n in range({CLIENTS})
]
links = []
for n in range({ADMINISTRATIONS}):
    administration = do_create_administration(episodes[n % len(episodes)], "phq9")
    path = reverse("respond:open", kwargs={{"signed": signed_token(administration)}})
    links.append([administration.pk, path])
print(json.dumps(links))
"""

# Run in a child process: what the database holds, in plain data.
READ = """
import json
from ally.web.auditlog.chain import verify
from ally.web.auditlog.models import AuditEntry
from ally.web.collect.models import Administration, Response
verdict = verify()
print(json.dumps({
    "administrations": {
        str(a["pk"]): [a["status"], a["completed_at"] is not None]
        for a in Administration.objects.values("pk", "status", "completed_at")
    },
    "responses": [
        {
            "pk": r.pk,
            "administration": r.administration_id,
            "key": r.idempotency_key,
            "answers": r.answers,  # opened under the client's key: they are sealed at rest
            "total": r.total,
            "answered": r.answered,
        }
        for r in Response.objects.order_by("pk")
    ],
    "recorded": list(
        AuditEntry.objects.filter(action="response.recorded").values_list("target_id", flat=True)
    ),
    "chain_holds": verdict.holds,
}))
"""


# The database and the server ---------------------------------------------------------------------


@pytest.fixture(params=ENGINES)
def environment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of `ally serve` and of the reading processes."""
    with ally_environment(request.param, tmp_path / "data", "ally_burst") as env:
        yield env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`ally serve` in a process group of its own, so that one signal reaches master and workers."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    *(str(ALLY), "serve", "--no-demo", "--port", str(port)),
                    *("--workers", str(WORKERS), "--data-dir", env["ALLY_DATA_DIR"]),
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_until_up()

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"ally serve stopped at start:\n{self.log.read_text()[-3000:]}")
            try:
                if requests.get(f"{self.base}/a/", timeout=5).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        self.kill()
        pytest.fail(f"ally serve did not answer:\n{self.log.read_text()[-3000:]}")

    def members(self) -> list[psutil.Process]:
        """The live processes of the server's group (a killed worker may linger as a zombie)."""
        found = []
        for process in psutil.process_iter(["pid", "status"]):
            try:
                if (
                    os.getpgid(process.pid) == self.process.pid
                    and process.info["status"] != psutil.STATUS_ZOMBIE
                ):
                    found.append(process)
            except (ProcessLookupError, psutil.Error):
                continue
        return found

    def kill(self) -> None:
        """SIGKILL to master and workers at once: no handler runs, nothing is flushed."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        deadline = time.monotonic() + 10
        while self.members() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not self.members(), "a server process outlived SIGKILL"


# A client and their browser --------------------------------------------------------------------


class ServerGoneError(Exception):
    """The connection failed: the server is dead (or not yet back)."""


@dataclass
class Submission:
    """One client answering one PHQ-9 by their link, in a browser that keeps its cookies."""

    administration: int
    link: str
    answers: list[int]
    browser: requests.Session = field(default_factory=requests.Session)
    form: dict[str, str] | None = None
    """The fields of the form as sent, once the form page was shown."""
    reply_lost: bool = False
    """In the burst, the reply to the post does not reach the client."""
    acknowledged_key: str = ""
    """The submission key of the post the server acknowledged."""
    unheard_key: str = ""
    """The key of a post whose reply was lost: the server stored it, the client does not know."""

    @property
    def acknowledged(self) -> bool:
        return bool(self.acknowledged_key)

    def _call(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        try:
            return self.browser.request(method, url, allow_redirects=False, timeout=60, **kwargs)
        except requests.ConnectionError as exc:
            raise ServerGoneError from exc

    def open_and_show(self, base: str) -> None:
        """Open the link (the token becomes a session cookie), then load the form."""
        opened = self._call("GET", base + self.link)
        assert opened.status_code == 302, (self.administration, opened.status_code)
        page = self._call("GET", base + "/a/")
        assert page.status_code == 200, (self.administration, page.status_code)
        html = page.text
        shown = re.search(r'name="administration" value="(\d+)"', html)
        assert shown is not None
        assert int(shown.group(1)) == self.administration
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        key = re.search(r'name="key" value="([^"]+)"', html)
        assert csrf is not None
        assert key is not None
        form = {
            "csrfmiddlewaretoken": csrf.group(1),
            "administration": str(self.administration),
            "key": key.group(1),
            "action": "submit",
        }
        form |= {f"item_{n}": str(v) for n, v in enumerate(self.answers, start=1)}
        self.form = form

    def send(self, base: str, *, reply_lost: bool = False) -> None:
        """Post the form; acknowledged when the reply sends the client on to the done page."""
        assert self.form is not None
        reply = self._call("POST", base + "/a/", data=self.form)
        assert reply.status_code == 302, (self.administration, reply.status_code, reply.text[:500])
        assert reply.headers["Location"].endswith("/a/done/"), reply.headers["Location"]
        if reply_lost:
            self.unheard_key = self.form["key"]
        else:
            self.acknowledged_key = self.form["key"]


def _phq9_answers(rng: random.Random) -> list[int]:
    """Eight answers from 0 to 3 and item 9 (self-harm) at 0, so no safety page comes between."""
    return [rng.randint(0, 3) for _ in range(8)] + [0]


@dataclass
class Burst:
    """Browsers answering at once; the kill comes after KILL_AFTER acknowledgements, while an
    answer is on its way."""

    base: str
    pending: collections.deque[Submission]
    acknowledged: int = 0
    posting: int = 0
    cut: int = 0
    """Requests that failed because the server died under them."""
    failures: list[BaseException] = field(default_factory=list)
    lock: threading.Condition = field(default_factory=threading.Condition)

    def _client(self) -> None:
        while True:
            with self.lock:
                if not self.pending:
                    return
                submission = self.pending.popleft()
            try:
                submission.open_and_show(self.base)
                with self.lock:
                    self.posting += 1
                    self.lock.notify_all()
                try:
                    submission.send(self.base, reply_lost=submission.reply_lost)
                finally:
                    with self.lock:
                        self.posting -= 1
            except ServerGoneError:
                with self.lock:
                    self.cut += 1
                    self.lock.notify_all()
                return
            except BaseException as exc:  # an assertion in a thread: report it to the test
                with self.lock:
                    self.failures.append(exc)
                    self.lock.notify_all()
                return
            with self.lock:
                self.acknowledged += submission.acknowledged
                self.lock.notify_all()

    def run_until_kill(self, server: Server) -> None:
        threads = [threading.Thread(target=self._client) for _ in range(BROWSERS)]
        for thread in threads:
            thread.start()
        with self.lock:
            self.lock.wait_for(
                lambda: (
                    (self.acknowledged >= KILL_AFTER and self.posting > 0)
                    or bool(self.failures)
                    or not any(t.is_alive() for t in threads)
                ),
                timeout=300,
            )
            server.kill()
        for thread in threads:
            thread.join()
        if self.failures:
            raise self.failures[0]


def _send_again(submissions: list[Submission], base: str) -> None:
    """After the restart: each browser sends its page again with the same key, or, when it
    never got the form, opens its link again; a few at a time."""
    queue = collections.deque(submissions)
    lock = threading.Lock()
    failures: list[BaseException] = []

    def client() -> None:
        while True:
            with lock:
                if not queue:
                    return
                submission = queue.popleft()
            try:
                if submission.form is None:
                    submission.open_and_show(base)
                submission.send(base)
            except BaseException as exc:
                with lock:
                    failures.append(exc)
                return

    threads = [threading.Thread(target=client) for _ in range(BROWSERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


# What the database must hold -----------------------------------------------------------------


def _check_whole(state: dict[str, Any]) -> None:
    """Nothing half-stored: each response has all its answers, its score, a completed
    administration and one audit entry; each completed administration has its response; the
    audit chain holds."""
    by_administration = collections.Counter(r["administration"] for r in state["responses"])
    twice = [pk for pk, n in by_administration.items() if n > 1]
    assert not twice, f"administrations with more than one response: {twice}"
    recorded = collections.Counter(state["recorded"])
    for response in state["responses"]:
        assert set(response["answers"]) == {str(n) for n in range(1, 10)}, response
        assert response["answered"] == 9, response
        assert response["total"] == sum(response["answers"].values()), response
        status, has_completed_at = state["administrations"][str(response["administration"])]
        assert (status, has_completed_at) == ("completed", True), response
        assert recorded[str(response["pk"])] == 1, response
    completed = {
        int(pk) for pk, (status, _) in state["administrations"].items() if status == "completed"
    }
    assert completed == set(by_administration)
    assert state["chain_holds"], "the audit chain does not verify"


def _stored_once(state: dict[str, Any], submission: Submission) -> bool:
    """The acknowledged answers are stored under their key, once, for their administration."""
    mine = [r for r in state["responses"] if r["key"] == submission.acknowledged_key]
    sent = {str(n): v for n, v in enumerate(submission.answers, start=1)}
    return (
        len(mine) == 1
        and mine[0]["administration"] == submission.administration
        and mine[0]["answers"] == sent
    )


@pytest.mark.slow
def test_every_acknowledged_answer_survives_a_kill_once_and_retries_store_no_duplicate(
    environment: dict[str, str], tmp_path: Path
) -> None:
    links = run_python(PREPARE, environment)
    rng = random.Random(20261129)
    submissions = [
        Submission(pk, path, _phq9_answers(rng), reply_lost=n % REPLY_LOST_EVERY == 0)
        for n, (pk, path) in enumerate(links)
    ]
    port = _free_port()
    log = tmp_path / "serve.log"

    server = Server(environment, port, log)
    burst = Burst(server.base, collections.deque(submissions))
    burst.run_until_kill(server)
    before_kill = [s for s in submissions if s.acknowledged]
    unacknowledged = [s for s in submissions if not s.acknowledged]
    # The kill came in the middle of the burst: answers on both sides of it, requests cut.
    assert len(before_kill) >= KILL_AFTER
    assert unacknowledged
    assert burst.cut >= 1

    after_kill = run_python(READ, environment)
    _check_whole(after_kill)
    lost = [s.administration for s in before_kill if not _stored_once(after_kill, s)]
    assert not lost, f"acknowledged before the kill, then not in the database once: {lost}"
    stored_unacknowledged = {r["administration"] for r in after_kill["responses"]} - {
        s.administration for s in before_kill
    }
    # The server replied to these before the kill, and it replies only after the commit.
    unheard = [s for s in submissions if s.unheard_key]
    assert unheard
    assert {s.administration for s in unheard} <= stored_unacknowledged

    server = Server(environment, port, log)
    try:
        double_taps = rng.sample(before_kill, min(DOUBLE_TAPS, len(before_kill)))
        _send_again(unacknowledged + double_taps, server.base)
    finally:
        server.kill()

    final = run_python(READ, environment)
    _check_whole(final)
    assert all(s.acknowledged for s in submissions)
    not_once = [s.administration for s in submissions if not _stored_once(final, s)]
    assert not not_once, f"not stored exactly once under the acknowledged key: {not_once}"
    assert len(final["responses"]) == ADMINISTRATIONS
    # Shown with -rP: how the kill fell.
    print(
        f"{len(before_kill)} acknowledged before the kill, {burst.cut} requests cut, "
        f"{len(stored_unacknowledged)} stored unacknowledged ({len(unheard)} replies lost), "
        f"{len(unacknowledged)} sent again, {len(double_taps)} double taps"
    )
