"""`ally serve`'s processes: no worker outlives a master killed with SIGKILL, and each instance
has its own gunicorn control socket in its own data folder (issue 19, finding 7)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from test_private_data_folder import ALLY, env_for, free_port

from ally.cli.serve import CONTROL_SOCKET


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found |= {int(child) for child in text}
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _start(folder: Path) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        [str(ALLY), "serve", "--no-demo", "--port", str(free_port()), "--workers", "2"],
        env=env_for(folder),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert server.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = server.stdout.readline()
        if not line or line.startswith("Stop with Ctrl+C"):
            break
    return server


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc (Linux)")
def test_no_worker_outlives_a_master_killed_with_sigkill(tmp_path: Path) -> None:
    server = _start(tmp_path / "ally-data")
    try:
        deadline = time.monotonic() + 60
        workers: set[int] = set()
        while time.monotonic() < deadline and len(workers) < 2:
            workers = _children(server.pid)
            time.sleep(0.2)
        assert len(workers) == 2
        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
        # At once: gunicorn's own check of its parent waits for the worker's next idle turn
        # (up to half the timeout, 15 s), and a busy worker goes on writing until then.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.2)
        assert not any(_alive(w) for w in workers), "a worker kept running without its master"
    finally:
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_two_instances_have_their_own_control_sockets(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    servers = [_start(first), _start(second)]
    try:
        for folder in (first, second):
            control = folder / CONTROL_SOCKET
            deadline = time.monotonic() + 30  # gunicorn opens it once its master runs
            while time.monotonic() < deadline and not control.is_socket():
                time.sleep(0.2)
            assert control.is_socket(), f"no control socket in {folder}"
            assert control.stat().st_mode & 0o077 == 0
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
