"""Time `ally analyze` end to end beside its yardsticks, on generated data.

The yardsticks: the floor (one DuckDB query, benchmarks/floor_query.py), a vectorised Polars
script of the `--no-feedback` outputs (benchmarks/polars_baseline.py) and the plain pandas
baseline (benchmarks/pandas_baseline.py). Each run is a child process; wall time is measured
around it, CPU time (user + system, all threads) and peak memory (maximum resident set size)
are the child's own (os.wait4). The engines take turns within each round, so a change in the
machine's load falls on all of them alike. Data is generated once into benchmarks/data/.

    python benchmarks/run.py                      # 1 M and 10 M rows, every engine
    python benchmarks/run.py --sizes 1e6 --csv    # 1 M rows, Parquet and CSV input
    python benchmarks/run.py --sizes 1e7 --skip-pandas --profile
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
PYTHON = sys.executable
ALLY = str(Path(PYTHON).with_name("ally"))

ENGINES = ("floor", "polars", "ally", "ally+feedback", "pandas")
"""In the table's order: "ally" is `ally analyze --no-feedback`, which computes what the
yardsticks compute; "ally+feedback" adds the practice model's signals, ruptures and dropout
risk. The floor and Polars read Parquet only."""


@dataclass
class Result:
    engine: str
    input: str
    rows: int
    times: list[float]
    peak_rss_mb: float
    status: str = "ok"
    output: str = ""
    loads: list[float] = field(default_factory=list)
    """The 1-minute load average before each run: other work on the machine slows a run."""
    cpu: list[float] = field(default_factory=list)
    """CPU seconds (user + system) of each run's child, all its threads."""

    @property
    def best(self) -> float:
        return min(self.times)


def machine() -> dict[str, str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = "unknown"
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            memory = f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    return {
        "cpus (nproc)": str(len(os.sched_getaffinity(0))),
        "cpu model": cpu,
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        **{
            name: version(name)
            for name in ("duckdb", "ibis-framework", "pandas", "polars", "pyarrow", "numpy")
        },
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
        "ally commit": commit(),
    }


def commit() -> str:
    """The checkout's commit, marked when src/ differs from it (others may be editing)."""
    git = ["git", "-C", str(HERE.parent)]
    found = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if found.returncode != 0:
        return "unknown"
    dirty = subprocess.run([*git, "status", "--porcelain", "src"], capture_output=True, text=True)
    return found.stdout.strip() + (" + uncommitted changes in src/" if dirty.stdout else "")


def label(rows: int) -> str:
    return f"{rows // 1_000_000}m" if rows % 1_000_000 == 0 else f"{rows // 1000}k"


class _Arrow:
    """pyarrow, with concat_arrays taking the chunked arrays pa.array gives for large inputs.

    pyarrow 26 returns a ChunkedArray from pa.array(numpy strings) above about 4 M values, which
    generate.py passes to pa.concat_arrays; this lets it generate 10 M rows unchanged.
    """

    def __getattr__(self, name: str) -> object:
        return getattr(pa, name)

    @staticmethod
    def concat_arrays(parts: list[pa.Array | pa.ChunkedArray]) -> pa.Array:
        whole = [p.combine_chunks() if isinstance(p, pa.ChunkedArray) else p for p in parts]
        return pa.concat_arrays(whole)


def dataset(rows: int, suffix: str) -> Path:
    """The generated file of `rows` rows, made once."""
    path = DATA / f"{label(rows)}.{suffix}"
    if not path.exists():
        sys.path.insert(0, str(HERE))
        import generate

        generate.pa = _Arrow()
        table = generate.generate(rows)
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == "csv":
            pacsv.write_csv(table, path)
        else:
            pq.write_table(table, path)
        print(f"wrote {table.num_rows:,} rows to {path}", flush=True)
    return path


def timed(command: list[str], timeout: float | None) -> tuple[float, float, float, str, str]:
    """Wall seconds, CPU seconds, peak RSS in MB, status and last line of output of one child
    process."""
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=stdout, stderr=stderr)
        deadline = None if timeout is None else start + timeout
        status = "ok"
        while True:
            pid, code, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                child.kill()
                pid, code, usage = os.wait4(child.pid, 0)
                status = "timed out"
                break
            time.sleep(0.02)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(code)
        if status == "ok" and child.returncode != 0:
            stderr.seek(0)
            print(stderr.read().decode(errors="replace"), file=sys.stderr)
            status = f"failed (exit {child.returncode})"
        stdout.seek(0)
        lines = stdout.read().decode(errors="replace").strip().splitlines()
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, usage.ru_maxrss / 1024, status, lines[-1] if lines else ""


def command_of(engine: str, path: Path, out: Path) -> list[str]:
    if engine.startswith("ally"):
        command = [ALLY, "analyze", str(path), "--out", str(out), "--format", "parquet"]
        command.append("--no-progress")
        if engine == "ally":
            command.append("--no-feedback")
        return command
    script = {"floor": "floor_query.py", "polars": "polars_baseline.py"}.get(engine)
    if script is not None:
        return [PYTHON, str(HERE / script), str(path), "--out", str(out)]
    command = [PYTHON, str(HERE / "pandas_baseline.py"), str(path), "--out", str(out)]
    return [*command, "--format", "parquet"]


def run_once(result: Result, path: Path, timeout: float | None) -> None:
    """One more run of `result`'s engine on `path`, recorded in `result`."""
    if result.status != "ok":
        return
    out = DATA / f"out-{result.engine}-{path.stem}-{path.suffix[1:]}"
    shutil.rmtree(out, ignore_errors=True)
    result.loads.append(os.getloadavg()[0])
    wall, cpu, rss, status, result.output = timed(command_of(result.engine, path, out), timeout)
    result.times.append(wall)
    result.cpu.append(cpu)
    result.peak_rss_mb = max(result.peak_rss_mb, rss)
    print(
        f"  {result.engine} {path.name}: {wall:.2f} s, {cpu:.2f} s CPU, {rss:.0f} MB, {status}",
        flush=True,
    )
    if status != "ok":
        result.status = status


def run_interleaved(
    engines: list[str], path: Path, rows: int, repeat: int, timeouts: dict[str, float | None]
) -> list[Result]:
    """`repeat` rounds, each running every engine once in turn."""
    results = [Result(e, path.suffix[1:], rows, [], 0.0) for e in engines]
    for _ in range(repeat):
        for result in results:
            run_once(result, path, timeouts.get(result.engine))
    return results


def table(results: list[Result]) -> str:
    floor = {(r.input, r.rows): r.best for r in results if r.engine == "floor" and r.status == "ok"}
    lines = [
        "| engine | input | rows | runs | min (s) | median (s) | median CPU (s) | peak RSS (MB) "
        "| min ÷ floor | load before runs |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        if not r.times:
            continue
        ratio = ""
        if r.status == "ok" and (r.input, r.rows) in floor:
            ratio = f"{r.best / floor[(r.input, r.rows)]:.1f}×"
        best = f"{r.best:.2f}" if r.status == "ok" else f"{r.status} after {r.best:.0f}"
        loads = ", ".join(f"{load:.1f}" for load in r.loads)
        lines.append(
            f"| {r.engine} | {r.input} | {r.rows:,} | {len(r.times)} | {best} | "
            f"{statistics.median(r.times):.2f} | {statistics.median(r.cpu):.2f} | "
            f"{r.peak_rss_mb:,.0f} | {ratio} | {loads} |"
        )
    return "\n".join(lines)


def profile(path: Path) -> None:
    """The CPU and wall seconds of each step of `ally analyze` on DuckDB, with and without
    feedback: benchmarks/scale.py's step timer."""
    import scale

    rows = pq.ParquetFile(path).metadata.num_rows
    for feedback in (False, True):
        found = scale.run("duckdb", path, rows, feedback, "local[2]", 7200, [])
        print(scale.report(found), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="1e6,1e7", help='Rows for ally, comma-separated: 1e6,1e7 ("" for none).'
    )
    parser.add_argument(
        "--repeat", type=int, help="Rounds per size (default: 5 up to 1 M rows, else 3)."
    )
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument(
        "--engines",
        default=",".join(ENGINES),
        help=f"Engines to time, comma-separated (default: {','.join(ENGINES)}).",
    )
    parser.add_argument(
        "--pandas-sizes", help="Sizes for the pandas baseline (default: those of --sizes)."
    )
    parser.add_argument(
        "--pandas-timeout",
        type=float,
        default=900,
        help="Stop a pandas run after this many seconds and report it as timed out.",
    )
    parser.add_argument("--csv", action="store_true", help="Also time CSV input of each size.")
    parser.add_argument(
        "--profile", action="store_true", help="Time ally's steps (CPU and wall) at each size."
    )
    parser.add_argument(
        "--timeout",
        type=float,
        help="Stop any run after this many seconds and report it as timed out.",
    )
    parser.add_argument("--json", type=Path, help="Also write the results to this file.")
    args = parser.parse_args()
    sizes = [int(float(s)) for s in args.sizes.split(",") if s]
    pandas_sizes = sizes
    if args.pandas_sizes:
        pandas_sizes = [int(float(s)) for s in args.pandas_sizes.split(",") if s]
    if args.skip_pandas:
        pandas_sizes = []

    about = machine()
    print("\n".join(f"- {k}: {v}" for k, v in about.items()), flush=True)
    results: list[Result] = []
    timeouts: dict[str, float | None] = {e: args.timeout for e in ENGINES}
    timeouts["pandas"] = args.pandas_timeout
    for rows in sorted(set(sizes) | set(pandas_sizes)):
        repeat = args.repeat or (5 if rows <= 1_000_000 else 3)
        # The generator may give a little less than asked; report the rows in the file.
        actual = pq.read_metadata(dataset(rows, "parquet")).num_rows
        for suffix in ("parquet", "csv") if args.csv else ("parquet",):
            path = dataset(rows, suffix)
            chosen = [e for e in ENGINES if e in args.engines.split(",")]
            engines = [e for e in chosen if e != "pandas"] if rows in sizes else []
            if suffix != "parquet":
                engines = [e for e in engines if e.startswith("ally")]
            if rows in pandas_sizes and "pandas" in chosen:
                engines.append("pandas")
            results += run_interleaved(engines, path, actual, repeat, timeouts)
    print()
    print(table(results))
    if args.profile:
        for rows in sizes:
            profile(dataset(rows, "parquet"))
    for r in results:
        if r.engine == "pandas" and r.output:
            print(f"\npandas, {r.input}, {r.rows:,} rows (last run): {r.output}")
    if args.json:
        args.json.write_text(
            json.dumps({"machine": about, "results": [asdict(r) for r in results]}, indent=2)
        )


if __name__ == "__main__":
    main()
