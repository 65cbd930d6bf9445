"""What a sign-in costs: one Argon2 verification of the password, timed with Ally's parameters
(RFC 9106's second recommended option, accounts/hashers.py) and with Django's defaults, and the
sign-ins per second this machine's cores allow when every core does nothing else.

A sign-in verifies one password hash (a wrong address costs the same: Django hashes anyway, so
that timing does not tell which accounts exist); the code step costs microseconds. Not a test:
figures go to docs/benchmarks.md.

    .venv/bin/python benchmarks/login_cost.py               # 40 verifications each, all cores
    .venv/bin/python benchmarks/login_cost.py --rounds 100 --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

PASSWORD = "correct horse battery staple"
CHOICES = {
    "ally (RFC 9106 second option)": "ally.web.accounts.hashers.RFC9106Argon2PasswordHasher",
    "django default": "django.contrib.auth.hashers.Argon2PasswordHasher",
}


@dataclass(frozen=True)
class Cost:
    hasher: str
    parameters: str
    median_ms: float
    p95_ms: float
    cpu_ms: float
    """CPU time of one verification (all of its threads): what other work on the machine
    does not inflate, unlike the wall times."""
    cpu_bound_per_second: float
    """Sign-ins per second the cores allow by CPU time alone: cores / CPU time."""
    sign_ins_per_second: float
    """Measured, with one process per core, each verifying passwords back to back."""


def _hasher(path: str) -> Any:
    from django.utils.module_loading import import_string

    return import_string(path)()


def _encoded(path: str) -> str:
    hasher = _hasher(path)
    return str(hasher.encode(PASSWORD, hasher.salt()))


def _verify_times(path: str, encoded: str, rounds: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds of each of `rounds` verifications."""
    hasher = _hasher(path)
    times = []
    for _ in range(rounds):
        start, cpu = time.perf_counter(), time.process_time()
        if not hasher.verify(PASSWORD, encoded):
            raise SystemExit("the password did not verify: the benchmark is broken")
        times.append((time.perf_counter() - start, time.process_time() - cpu))
    return times


def measure(path: str, rounds: int, workers: int) -> Cost:
    encoded = _encoded(path)
    _verify_times(path, encoded, 2)  # warm up: library load, first allocation
    measured = _verify_times(path, encoded, rounds)
    alone = sorted(wall for wall, _ in measured)
    cpu = statistics.median(cpu for _, cpu in measured)
    # Throughput: every core verifying at once, as a burst of sign-ins would.
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(_verify_times, [path] * workers, [encoded] * workers, [1] * workers))
        start = time.perf_counter()
        list(pool.map(_verify_times, [path] * workers, [encoded] * workers, [rounds] * workers))
        wall = time.perf_counter() - start
    parameters = encoded.split("$")[3]
    return Cost(
        hasher=path.rsplit(".", 1)[1],
        parameters=parameters,
        median_ms=round(statistics.median(alone) * 1000, 1),
        p95_ms=round(alone[max(0, int(len(alone) * 0.95) - 1)] * 1000, 1),
        cpu_ms=round(cpu * 1000, 1),
        cpu_bound_per_second=round((os.cpu_count() or 1) / cpu, 1),
        sign_ins_per_second=round(workers * rounds / wall, 1),
    )


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        lscpu = ""
    fields = dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition(":") for line in lscpu.splitlines())
        if value
    )
    from importlib.metadata import version

    return {
        "cpu": fields.get("Model name", platform.processor() or "unknown"),
        "cpus": fields.get("CPU(s)", str(os.cpu_count())),
        "hypervisor": fields.get("Hypervisor vendor", "none"),
        "python": platform.python_version(),
        "argon2-cffi": version("argon2-cffi"),
        "django": version("django"),
        # Other work on the machine slows every figure: note how busy it was.
        "load average (1 min) at start": f"{os.getloadavg()[0]:.2f}",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=40, help="verifications per process")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="processes (default: cores)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.rounds > 1000:
        parser.error("--rounds must be between 1 and 1000")
    about = machine()
    costs = [measure(path, args.rounds, args.workers) for path in CHOICES.values()]
    if args.json:
        print(json.dumps({"machine": about, "costs": [asdict(c) for c in costs]}, indent=2))
        return
    print(
        f"Machine: {about['cpus']} × {about['cpu']} (hypervisor: {about['hypervisor']}), "
        f"load average {about['load average (1 min) at start']} at start; Python "
        f"{about['python']}, argon2-cffi {about['argon2-cffi']}, Django {about['django']}; "
        f"{args.rounds} verifications per process, {args.workers} processes.\n"
    )
    print(
        "| Hasher | Parameters | Wall time per sign-in, median (p95) | CPU time per sign-in "
        "| Sign-ins per second: cores / CPU time | measured, all cores busy |"
    )
    print("|---|---|---|---|---|---|")
    for name, cost in zip(CHOICES, costs, strict=True):
        print(
            f"| {name} | {cost.parameters} | {cost.median_ms} ms ({cost.p95_ms} ms) | "
            f"{cost.cpu_ms} ms | {cost.cpu_bound_per_second} | {cost.sign_ins_per_second} |"
        )


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
    main()
