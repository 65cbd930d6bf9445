"""A process forked after drawing a chart still draws (issue 19, finding 7: vl-convert's engine
threads do not survive a fork, and the child's next drawing waited for ever)."""

from __future__ import annotations

import os
import time

from ally.web.clinic import charts

SPEC = {
    "$schema": charts.SCHEMA,
    "data": {"values": [{"session": 1, "score": 12}, {"session": 2, "score": 9}]},
    "mark": "line",
    "encoding": {
        "x": {"field": "session", "type": "quantitative"},
        "y": {"field": "score", "type": "quantitative"},
    },
}


def _wait(pid: int, seconds: float) -> int | None:
    """The child's exit status, or None if it is still running after `seconds` (then killed)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.2)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return None


def test_a_child_forked_after_a_drawing_draws_without_hanging() -> None:
    assert charts.to_svg(SPEC).startswith("<svg")
    pid = os.fork()
    if pid == 0:  # the child: draw, and say by the exit status whether it worked
        ok = False
        try:
            ok = charts.to_svg(SPEC).startswith("<svg")
        finally:
            os._exit(0 if ok else 1)
    assert _wait(pid, 90) == 0
