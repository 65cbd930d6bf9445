"""`ally analyze` on DuckDB and on local Spark at growing sizes, and where the time goes.

Each run is a child process running the `ally` command in process, with a step timer around the
engine's stages (the driver's CPU and wall seconds of each). On Spark the timer also names
Spark's jobs after the step that started them (`SparkContext.setJobDescription`), and Spark's
event log is read afterwards for each step's jobs: their wall time, the tasks' run time and the
JVM's CPU time. From outside, the process tree (the `ally` process; on Spark also its JVM and
the JVM's Python workers) is sampled every quarter second for its summed memory (proportional set
size: shared pages counted once) and for each process's CPU time. docs/scale.md gives the
results and the machine.

    python benchmarks/scale.py --sizes 1e6 --engines duckdb,spark
    python benchmarks/scale.py --sizes 1e7 --engines duckdb,spark --modes no-feedback,feedback \
        --spark-conf spark.driver.memory=8g
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import DATA, PYTHON, dataset, machine

# The child: `ally analyze` with a step timer. A step's jobs on Spark carry its name; a nested
# step's name replaces its caller's while it runs. Each step prints one JSON line.
CHILD = r"""
import json, os, resource, sys, time
from ally.engine import analyze as engine
from ally.engine import administrations
from ally.engine.backends import DuckDB

STEPS = {
    (engine, "_score"): "reading, checking and scoring",
    (engine, "_complete_items"): "complete item answers (for alpha)",
    (engine, "_fitted"): "fitting the practice model",
    (engine, "_apply_here"): "applying the model in this process, writing the outputs",
    (engine, "apply_and_write_sessions"): "applying the model, writing sessions",
    (engine, "episodes_table"): "the episodes table's columns",
    (engine, "_write_rejected"): "writing rejected.csv",
}
stack = []

def cpu():
    t = os.times()
    return t.user + t.system

def spark_context():
    if "pyspark" not in sys.modules:
        return None
    from pyspark import SparkContext
    return SparkContext._active_spark_context

def describe(what):
    sc = spark_context()
    if sc is not None:
        sc.setJobDescription(what)

def timed(what, f):
    def step(*args, **kwargs):
        stack.append(what)
        describe(what)
        c, w = cpu(), time.perf_counter()
        try:
            return f(*args, **kwargs)
        finally:
            stack.pop()
            describe(stack[-1] if stack else "between steps")
            line = {"step": what, "depth": len(stack), "cpu": cpu() - c,
                    "wall": time.perf_counter() - w,
                    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
            print("STEP " + json.dumps(line), flush=True)
    return step

def named(owner, name, what):
    setattr(owner, name, timed(what, getattr(owner, name)))

for (module, name), what in STEPS.items():
    named(module, name, what)
OWN = (("stored", "storing a stage"),
       ("checked", "scoring (the core) and storing the checked rows"),
       ("write", "writing an output"), ("read", "reading the input"),
       ("pull", "sorting the good rows into the core's columns"),
       ("apply", "applying the model where the rows are, writing sessions and episodes"))
for name, what in OWN[:-1]:  # DuckDB applies the model in this process (_apply_here)
    named(DuckDB, name, what)
if "--engine" in sys.argv and sys.argv[sys.argv.index("--engine") + 1] == "spark":
    from ally.engine.spark import Spark
    for name, what in OWN:
        named(Spark, name, what)

from ally.cli.main import cli
c, w = cpu(), time.perf_counter()
try:
    cli(sys.argv[1:], prog_name="ally", standalone_mode=False)
finally:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print("TOTAL " + json.dumps({"cpu": usage.ru_utime + usage.ru_stime, "wall":
          time.perf_counter() - w, "peak_mb": usage.ru_maxrss / 1024}), flush=True)
"""


@dataclass
class Tree:
    """The sampled process tree of one run."""

    cpu: dict[int, float] = field(default_factory=dict)
    """Each process's latest CPU seconds (user + system, its own threads)."""
    names: dict[int, str] = field(default_factory=dict)
    peak_mb: float = 0.0
    """The largest summed memory (proportional set size) of the tree at one sample."""
    peak_by_kind_mb: dict[str, float] = field(default_factory=lambda: defaultdict(float))


def kind(process: psutil.Process, root: int) -> str:
    if process.pid == root:
        return "ally (driver)"
    name = process.name()
    if "python" in name:
        return "Python workers"
    # The JVM, or a child it is forking, which carries the forking thread's name for a moment.
    parent = process.parent()
    return "JVM" if name == "java" or (parent is not None and parent.name() == "java") else name


def sample(root: int, tree: Tree, done: threading.Event) -> None:
    while not done.is_set():
        try:
            parent = psutil.Process(root)
            processes = [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        total, by_kind = 0.0, defaultdict(float)
        for p in processes:
            try:
                times, memory = p.cpu_times(), p.memory_full_info()
                which = kind(p, root)
            except psutil.Error:
                continue
            tree.cpu[p.pid] = times.user + times.system
            tree.names[p.pid] = which
            # Proportional set size: a page shared by processes (a JVM and the child it is
            # forking) counts once in their sum, not in each.
            total += memory.pss / 2**20
            by_kind[which] += memory.pss / 2**20
        tree.peak_mb = max(tree.peak_mb, total)
        for which, mb in by_kind.items():
            tree.peak_by_kind_mb[which] = max(tree.peak_by_kind_mb[which], mb)
        done.wait(0.25)


def spark_jobs(log_dir: Path) -> dict[str, dict[str, float]]:
    """Per job description: jobs, their summed wall seconds, the tasks' run seconds and the JVM's
    CPU seconds (Spark's executor CPU time: the JVM's threads, not its Python workers)."""
    # Spark 4 writes each application's log as a folder of numbered parts (event log v2).
    logs = sorted(
        (p for p in log_dir.rglob("*") if p.is_file() and not p.name.startswith(".")),
        key=lambda p: [int(x) if x.isdigit() else x for x in p.name.split("_")],
    )
    if not logs:
        return {}
    job_of_stage: dict[int, int] = {}
    described: dict[int, str] = {}
    started: dict[int, float] = {}
    steps: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for part in logs:
        with part.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:  # the last line of a run that was stopped
                    continue
                _count(event, job_of_stage, described, started, steps)
    return {k: dict(v) for k, v in steps.items()}


def _count(
    event: dict,
    job_of_stage: dict[int, int],
    described: dict[int, str],
    started: dict[int, float],
    steps: dict[str, dict[str, float]],
) -> None:
    what = event.get("Event")
    if what == "SparkListenerJobStart":
        job = event["Job ID"]
        props = event.get("Properties") or {}
        described[job] = props.get("spark.job.description", "(outside the steps)")
        started[job] = event["Submission Time"]
        for stage in event.get("Stage IDs", []):
            job_of_stage[stage] = job
        steps[described[job]]["jobs"] += 1
    elif what == "SparkListenerJobEnd":
        job = event["Job ID"]
        steps[described[job]]["job_wall"] += (event["Completion Time"] - started[job]) / 1e3
    elif what == "SparkListenerTaskEnd":
        metrics = event.get("Task Metrics") or {}
        job = job_of_stage.get(event["Stage ID"])
        if job is not None:
            steps[described[job]]["task_run"] += metrics.get("Executor Run Time", 0) / 1e3
            steps[described[job]]["jvm_cpu"] += metrics.get("Executor CPU Time", 0) / 1e9


@dataclass
class Run:
    engine: str
    rows: int
    feedback: bool
    wall: float = 0.0
    load_before: float = 0.0
    load_after: float = 0.0
    status: str = "ok"
    driver: dict[str, float] = field(default_factory=dict)
    cpu_by_kind: dict[str, float] = field(default_factory=dict)
    peak_mb: float = 0.0
    peak_by_kind_mb: dict[str, float] = field(default_factory=dict)
    steps: list[dict[str, float | str]] = field(default_factory=list)
    jobs: dict[str, dict[str, float]] = field(default_factory=dict)
    model: str = ""
    """The saved practice model applied (--model), if any."""

    @property
    def cpu(self) -> float:
        return sum(self.cpu_by_kind.values())


def run(
    engine: str,
    path: Path,
    rows: int,
    feedback: bool,
    master: str,
    timeout: float,
    spark_conf: list[str],
    outputs: Path = DATA,
    model: Path | None = None,
) -> Run:
    out = outputs / f"out-scale-{engine}-{path.stem}"
    shutil.rmtree(out, ignore_errors=True)
    command = [PYTHON, "-c", CHILD, "analyze", str(path), "--out", str(out)]
    command += ["--format", "parquet", "--no-progress", "--engine", engine]
    if not feedback:
        command.append("--no-feedback")
    if model is not None:
        command += ["--model", str(model)]
    if engine == "spark":
        command += ["--spark-master", master]
        for setting in spark_conf:
            command += ["--spark-conf", setting]
    result = Run(engine, rows, feedback, load_before=os.getloadavg()[0], model=str(model or ""))
    with tempfile.TemporaryDirectory(prefix="ally-spark-events-") as events:
        env = dict(os.environ)
        if engine == "spark":
            env["PYSPARK_SUBMIT_ARGS"] = (
                f"--conf spark.eventLog.enabled=true --conf spark.eventLog.dir=file://{events} "
                "--conf spark.eventLog.compress=false "
                "pyspark-shell"
            )
        tree, done = Tree(), threading.Event()
        start = time.perf_counter()
        with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
            child = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env)
            watcher = threading.Thread(target=sample, args=(child.pid, tree, done), daemon=True)
            watcher.start()
            try:
                code = child.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                code = child.wait()
                result.status = f"timed out after {timeout:.0f} s"
            done.set()
            watcher.join()
            result.wall = time.perf_counter() - start
            stdout.seek(0)
            output = stdout.read().decode(errors="replace").splitlines()
            if code != 0 and result.status == "ok":
                stderr.seek(0)
                result.status = f"failed (exit {code})"
                said = stderr.read().decode(errors="replace")
                kept = out.with_name(out.name + "-stderr.txt")
                kept.write_text(said, encoding="utf-8")
                print(f"{said[-2000:]}\n(all of it in {kept})", file=sys.stderr)
        result.load_after = os.getloadavg()[0]
        for line in output:
            if line.startswith("STEP "):
                result.steps.append(json.loads(line[5:]))
            elif line.startswith("TOTAL "):
                result.driver = json.loads(line[6:])
        by_kind: dict[str, float] = defaultdict(float)
        for pid, seconds in tree.cpu.items():
            by_kind[tree.names[pid]] += seconds
        if result.driver:  # the driver's own figure is exact; the sample may be a moment old
            by_kind["ally (driver)"] = result.driver["cpu"]
        result.cpu_by_kind = dict(by_kind)
        result.peak_mb = tree.peak_mb
        result.peak_by_kind_mb = dict(tree.peak_by_kind_mb)
        if engine == "spark":
            result.jobs = spark_jobs(Path(events))
    return result


def report(r: Run) -> str:
    mode = ("with feedback" if r.feedback else "--no-feedback") + (
        f", --model {r.model}" if r.model else ""
    )
    per_million = r.wall / (r.rows / 1e6)
    lines = [
        f"\n### {r.engine}, {r.rows:,} rows, {mode}: {r.status}\n",
        f"wall {r.wall:.1f} s ({per_million:.1f} s per million rows), CPU {r.cpu:.1f} s "
        f"({', '.join(f'{k} {v:.1f}' for k, v in sorted(r.cpu_by_kind.items()))}), "
        f"peak memory {r.peak_mb:,.0f} MB summed over the processes "
        f"({', '.join(f'{k} {v:,.0f}' for k, v in sorted(r.peak_by_kind_mb.items()))}), "
        f"load average {r.load_before:.1f} before, {r.load_after:.1f} after\n",
        "| step | driver CPU (s) | wall (s) | driver peak so far (MB) |",
        "|---|---:|---:|---:|",
    ]
    for s in r.steps:
        indent = "&nbsp;&nbsp;" * int(s["depth"])
        lines.append(
            f"| {indent}{s['step']} | {s['cpu']:.2f} | {s['wall']:.2f} | {s['peak_mb']:,.0f} |"
        )
    if r.jobs:
        lines += [
            "",
            "| Spark jobs started in | jobs | jobs' wall (s) | tasks' run time (s) | JVM CPU (s) |",
            "|---|---:|---:|---:|---:|",
        ]
        for what, j in sorted(r.jobs.items(), key=lambda kv: -kv[1].get("job_wall", 0)):
            lines.append(
                f"| {what} | {j.get('jobs', 0):.0f} | {j.get('job_wall', 0):.1f} | "
                f"{j.get('task_run', 0):.1f} | {j.get('jvm_cpu', 0):.1f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e6", help="Comma-separated row counts, e.g. 1e6,1e7.")
    parser.add_argument("--engines", default="duckdb,spark")
    parser.add_argument(
        "--modes",
        default="no-feedback",
        help="Comma-separated: no-feedback (scores and change only), feedback, or both "
        "(no-feedback,feedback).",
    )
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument(
        "--spark-conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Passed to ally analyze --spark-conf, e.g. spark.driver.memory=8g.",
    )
    parser.add_argument(
        "--model",
        type=Path,
        help="A practice model (ally fit) to apply instead of fitting one on each input.",
    )
    parser.add_argument("--timeout", type=float, default=7200, help="Seconds per run.")
    parser.add_argument("--json", type=Path, help="Also write the results to this file.")
    args = parser.parse_args()
    modes = args.modes.split(",")
    if set(modes) - {"no-feedback", "feedback"}:
        parser.error(f"--modes {args.modes}: give no-feedback, feedback or no-feedback,feedback")
    print("machine: " + json.dumps(machine()), flush=True)
    runs = []
    for rows in (int(float(s)) for s in args.sizes.split(",")):
        path = dataset(rows, "parquet")
        rows = pq.ParquetFile(path).metadata.num_rows
        for engine in args.engines.split(","):
            for feedback in (mode == "feedback" for mode in modes):
                r = run(
                    engine,
                    path,
                    rows,
                    feedback,
                    args.spark_master,
                    args.timeout,
                    args.spark_conf,
                    model=args.model,
                )
                runs.append(r)
                print(report(r), flush=True)
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in runs], indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
