"""The refresh queue: answers ask for their episode's feedback here, and workers run the engine.

The engine takes 0.3-1 s per episode (about 2 s of CPU on a busy 2-core machine), too long to
keep a client's answer request waiting. So the request only writes a `PendingRefresh` row (one per
episode, however many answers come in), and a worker drains the rows with the same
`refresh_feedback` an inline refresh runs, so the numbers and alerts are the same. Critical-item
alerts do not wait for this: `do_record_response` raises them in the answer's own transaction.

Workers: a daemon thread in each server process (started by the first request or answer, so
`ally serve` and gunicorn need nothing more) that starts `refresh_worker --once` as a child
process at lower priority whenever rows are due, one child per machine at a time (`machine_turn`),
or `ally manage refresh_worker` run as a service
of its own. A worker claims one row at a time in a short transaction (PostgreSQL: `FOR UPDATE SKIP
LOCKED`; SQLite: the write lock every transaction takes), leases it for `LEASE`, runs the engine
outside any transaction, and deletes the row only if no answer asked again meanwhile. A worker
that dies leaves its row to fall due when the lease runs out; a refresh that fails is retried
later, at longer and longer intervals.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import F
from django.utils import timezone

from ally.web.feedback import refresh
from ally.web.feedback.models import PendingRefresh
from ally.web.practice.models import Episode

log = logging.getLogger(__name__)

BACKGROUND = "background"
"""Queue the refresh; a thread in each server process drains the queue (the default)."""
WORKER = "worker"
"""Queue the refresh; only `ally manage refresh_worker` drains the queue."""
INLINE = "inline"
"""Refresh inside the answer's request (tests, and installs that answer a few forms a day)."""
MODES = (BACKGROUND, WORKER, INLINE)

LEASE = dt.timedelta(minutes=10)
"""How long a claimed row is left to its worker; far longer than one engine run takes."""
RETRY_FIRST = dt.timedelta(seconds=30)
RETRY_LONGEST = dt.timedelta(hours=1)
POLL_SECONDS = 5.0
"""How often an idle worker looks for rows queued by other processes (or falling due again)."""
CHILD_NICENESS = 19
"""The drain's child process takes only the CPU the server's requests leave (measured with
benchmarks/web_load.py, submissions at 40/s: p95 229 ms with the children at nice 10, 75-115 ms
at nice 19)."""
CHILD_SECONDS = 30
"""How long one child process takes new rows."""


_wake = threading.Event()
"""Set by an enqueue in this process, so its thread need not wait for the next poll."""
_started_in: int | None = None
"""The process whose worker thread runs: a forked child starts its own."""
_start_lock = threading.Lock()


def mode() -> str:
    """ALLY_FEEDBACK_REFRESH; a value that is none of MODES counts as the default, and the
    system check (`ally manage check`, apps.py) names it, so a typo never stops refreshes."""
    chosen = str(getattr(settings, "ALLY_FEEDBACK_REFRESH", BACKGROUND)).strip().lower()
    return chosen if chosen in MODES else BACKGROUND


def enqueue(episode_id: int) -> None:
    """Ask for a refresh of the episode; a second ask before it runs adds no second row."""
    now = timezone.now()
    # One statement (INSERT ... ON CONFLICT DO UPDATE): no race between two answers' requests.
    # A claimed row keeps its lease; its worker sees the new requested_at and leaves it due.
    PendingRefresh.objects.bulk_create(
        [PendingRefresh(episode_id=episode_id, requested_at=now, due_at=now)],
        update_conflicts=True,
        unique_fields=["episode"],
        update_fields=["requested_at"],
    )
    # The worker looks once the row is visible to it, not before.
    transaction.on_commit(wake)


def retry_delay(attempts: int) -> dt.timedelta:
    """30 s after the first failure, doubling up to an hour: an engine fault is not hammered."""
    return min(RETRY_FIRST * 2 ** max(attempts - 1, 0), RETRY_LONGEST)


def settle(pk: int, requested_at: dt.datetime) -> bool:
    """Delete a queue row a refresh has covered, unless an answer asked again since the refresh
    read its input (`requested_at` moved on); True when it was deleted."""
    done, _ = PendingRefresh.objects.filter(pk=pk, requested_at=requested_at).delete()
    return bool(done)


def claim() -> PendingRefresh | None:
    """Take the row that has been due longest and lease it, or None when nothing is due."""
    now = timezone.now()
    with transaction.atomic():
        row = (
            PendingRefresh.objects.select_for_update(skip_locked=True)
            .filter(due_at__lte=now)
            .order_by("due_at", "pk")
            .first()
        )
        if row is None:
            return None
        row.due_at = now + LEASE
        row.save(update_fields=["due_at"])
    return row


def refresh_claimed(row: PendingRefresh) -> bool:
    """Run the engine for a claimed row; True when the episode's feedback is up to date."""
    try:
        refresh.refresh_feedback(Episode.objects.filter(pk=row.episode_id))
    except Exception as exc:
        # Only the kind of error: its message may quote data.
        log.warning(
            "feedback refresh failed for episode %s (%s); retried later",
            row.episode_id,
            type(exc).__name__,
        )
        PendingRefresh.objects.filter(pk=row.pk).update(
            attempts=F("attempts") + 1,
            due_at=timezone.now() + retry_delay(row.attempts + 1),
        )
        return False
    _draw_charts(row.episode_id)
    if not settle(row.pk, row.requested_at):
        # An answer came in while the engine ran and may not be in what it read: once more.
        PendingRefresh.objects.filter(pk=row.pk).update(due_at=timezone.now(), attempts=0)
    return True


def _draw_charts(episode_id: int) -> None:
    """The client page's charts, drawn now so that the clinician's next view need not; a view
    draws them itself if this fails."""
    from ally.web.clinic.episodes import draw_charts

    try:
        draw_charts(episode_id)
    except Exception as exc:
        log.warning("charts not drawn for episode %s (%s)", episode_id, type(exc).__name__)


@dataclass
class Drained:
    """What one pass over the queue did, in counts."""

    refreshed: int = 0
    failed: int = 0


def drain(limit: int | None = None, seconds: float | None = None) -> Drained:
    """Refresh due episodes, one engine run each, until none is due (or `limit` were taken, or
    `seconds` have passed: the current refresh is finished, no new one started)."""
    drained = Drained()
    ends = None if seconds is None else time.monotonic() + seconds
    while limit is None or drained.refreshed + drained.failed < limit:
        if ends is not None and time.monotonic() >= ends:
            break
        row = claim()
        if row is None:
            break
        if refresh_claimed(row):
            drained.refreshed += 1
        else:
            drained.failed += 1
    return drained


def work(stop: threading.Event, poll_seconds: float = POLL_SECONDS) -> None:
    """Refresh due episodes one by one until `stop` is set, waiting for new rows in between."""
    while not stop.is_set():
        _wake.clear()
        row = None
        try:
            row = claim()
            if row is not None:
                refresh_claimed(row)
        except Exception as exc:
            # The database may be restarting; the rows are still there next time.
            log.warning("feedback worker could not reach the queue (%s)", type(exc).__name__)
        finally:
            close_old_connections()
        if row is None:
            _wake.wait(poll_seconds)


def wake() -> None:
    """Cut this process's worker's wait short: a row was queued, or it is asked to stop."""
    _wake.set()


def start_in_background() -> None:
    """Start this process's worker thread once (again in a forked child), in background mode."""
    global _started_in
    if _started_in == os.getpid() or mode() != BACKGROUND:
        return
    with _start_lock:
        if _started_in == os.getpid():
            return
        threading.Thread(target=_watch, name="ally-feedback-refresh", daemon=True).start()
        _started_in = os.getpid()


def due() -> bool:
    return PendingRefresh.objects.filter(due_at__lte=timezone.now()).exists()


def drain_in_child() -> int:
    """Run `refresh_worker --once` in a process of its own, below the server's priority.

    Not in the server's process: the engine is Python-heavy (about 2 s of CPU per episode), and
    in a thread it would hold the interpreter lock that the process's requests wait for.
    """
    command = [sys.executable, "-m", "django", "refresh_worker", "--once"]
    # A bounded run: a child left behind by a stopped server ends soon, and the thread starts
    # the next one if rows are still due.
    command += ["--seconds", str(CHILD_SECONDS), "--settings", settings.SETTINGS_MODULE]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, child.pid, CHILD_NICENESS)
    return child.wait()


@contextlib.contextmanager
def machine_turn() -> Iterator[bool]:
    """Whether this process may start the machine's one drain now (an exclusive lock on a file
    in the data folder, held until the block ends). One child at a time, not one per server
    process: five children at once took the CPU the requests need and held the audit chain's
    lock while waiting for it (benchmarks/web_load.py, 100 submissions/s: p95 709 ms)."""
    path = Path(settings.ALLY_DATA_DIR) / "refresh-drain.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _watch() -> None:
    """The server process's thread: whenever rows are due, the machine's one child drains them
    (another process's thread may be running it)."""
    while True:
        _wake.clear()
        try:
            if due():
                with machine_turn() as mine:
                    if mine:
                        drain_in_child()
        except Exception as exc:
            log.warning("feedback worker could not drain the queue (%s)", type(exc).__name__)
        finally:
            close_old_connections()
        _wake.wait(POLL_SECONDS)
