"""`ally manage refresh_worker [--once]`: drain the feedback refresh queue in a process of its own.

For deployments that keep the engine's work off the web server (ALLY_FEEDBACK_REFRESH=worker);
as many as you like may run, on one machine or several: no two refresh the same episode at once.
Stops after the current refresh on SIGTERM or Ctrl+C.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ally.web.feedback import worker


class Command(BaseCommand):
    help = "Refresh the episodes whose answers asked for it; with --once, what is due, then stop."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="Drain what is due now and exit (for cron)."
        )
        parser.add_argument(
            "--seconds",
            type=float,
            help="With --once: take no new episode after this many seconds.",
        )
        parser.add_argument(
            "--poll",
            type=float,
            default=worker.POLL_SECONDS,
            help="Seconds between looks at an empty queue (default %(default)s).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["once"]:
            drained = worker.drain(seconds=options["seconds"])
            self.stdout.write(
                f"{drained.refreshed} episodes refreshed, {drained.failed} failed (retried later)"
            )
            return
        stop = threading.Event()

        def finish(signum: int, frame: Any) -> None:
            stop.set()
            worker.wake()

        signal.signal(signal.SIGTERM, finish)
        signal.signal(signal.SIGINT, finish)
        self.stdout.write("Refreshing feedback as answers come in; stop with Ctrl+C.")
        worker.work(stop, options["poll"])
