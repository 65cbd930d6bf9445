"""Gunicorn settings for Ally's workers: `gunicorn -c python:ally.web.gunicorn_config ...`
(docs/deploy.md); `ally serve` applies the same hook.

A worker must not outlive its master. Killed with SIGKILL (the OOM killer, `kill -9`), the master
cannot stop its workers, and gunicorn's own check of the parent runs only between requests, so
a busy worker went on writing for minutes (issue 19's reliability test). The kernel ends them
instead: PR_SET_PDEATHSIG sends SIGTERM to each worker when its parent dies.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from typing import Any

PR_SET_PDEATHSIG = 1
"""prctl(2) option: the signal the kernel sends a process when its parent dies."""


def end_with_the_master(master_pid: int) -> None:
    """In a worker just forked: ask for SIGTERM when the master dies, and leave at once if it
    died already (between the fork and this call)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != master_pid:
        os._exit(0)


def post_fork(server: Any, worker: Any) -> None:
    """Gunicorn's hook, run in each new worker."""
    end_with_the_master(server.pid)
