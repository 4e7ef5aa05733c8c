"""Metric ingest, in-run API → store, against raw SQLite and MLflow in the same run (DESIGN §9: ≥ 300,000
points/s end to end; raw SQLite ``executemany`` ~600,000/s; MLflow ``log_metric`` ~230/s, ``log_batch`` ~10,000/s).

1. ``runyard run`` of a real step that calls ``runyard.log`` N times (M metrics per call): end to end from
   the first point's time stamp to the moment the store holds every point (the bench polls the store's
   summary table every 5 ms), and the whole ``runyard run`` wall time for scale.
2. In one process, no overlap: N ``runyard.log`` calls to a file, then the worker's ingest of that file
   into a fresh SQLite store (``Ingest.finish``, what the worker does at a step's exit).
3. Raw SQLite: ``executemany`` of the same rows into the same table and index, one transaction.
4. MLflow on a SQLite tracking store: ``log_metric`` per point (a sample, extrapolated) and ``log_batch``
   (1,000 metrics per call, a sample). MLflow is a bench-only dependency: ``pip install mlflow`` into this
   environment, or into another one and pass ``--mlflow-python PATH/bin/python``. Without it those rows
   are skipped.

Usage: .venv/bin/python bench/ingest.py [--points 100000] [--per-call 1,4] [--mlflow-python PY]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

BIN = Path(sys.executable).parent
NAMES = ["loss", "acc", "lr", "grad_norm", "val_loss", "val_acc", "tokens", "ppl"]

PRODUCER = r'''
import sys, runyard
n, per = int(sys.argv[1]), int(sys.argv[2])
names = {names!r}[:per]
log = runyard.log
if per == 1:
    for i in range(n):
        log(step=i, loss=1.0 / (i + 1))
else:
    values = dict.fromkeys(names, 0.5)
    for i in range(n // per):
        for name in names:
            values[name] = i * 0.001
        log(step=i, **values)
'''


def rate(points: int, seconds: float) -> str:
    return f"{points / seconds:>12,.0f} points/s  ({seconds * 1000:8.1f} ms)"


def bench_run(folder: Path, points: int, per: int) -> tuple[float, float]:
    """A real `runyard run`: (end-to-end seconds from the first point to all stored, run wall time)."""
    spec_dir = folder / f"run-{per}"
    spec_dir.mkdir()
    (spec_dir / "produce.py").write_text(PRODUCER.format(names=NAMES))
    (spec_dir / "runyard.yaml").write_text(textwrap.dedent(f"""
        experiment: ingest
        steps:
          produce: python produce.py {points} {per}
        """))
    home = spec_dir / ".runyard"
    db = home / "runyard.db"
    began = time.time()
    proc = subprocess.Popen([str(BIN / "runyard"), "run", str(spec_dir / "runyard.yaml"), "--home", str(home)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = None
    conn = None
    while seen is None:
        exited = proc.poll() is not None
        if conn is None and db.exists():
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        total = 0
        if conn is not None:
            with contextlib.suppress(sqlite3.OperationalError):  # not created yet
                total = conn.execute("SELECT coalesce(sum(count), 0) FROM metric_summary").fetchone()[0]
        if total >= points:
            seen = time.time()
        elif exited:
            sys.exit(f"runyard run ended with {total} of {points} points stored:\n"
                     f"{proc.stdout.read() if proc.stdout else ''}")
        else:
            time.sleep(0.005)
    output = proc.communicate()[0]
    wall = time.time() - began
    if proc.returncode != 0:
        sys.exit(f"runyard run failed:\n{output}")
    assert conn is not None
    first = conn.execute("SELECT min(time) FROM metrics").fetchone()[0]
    stored = conn.execute("SELECT count(*) FROM metrics").fetchone()[0]
    conn.close()
    assert stored == points, (stored, points)
    return seen - first, wall


def bench_inprocess(folder: Path, points: int, per: int) -> tuple[float, float, float]:
    """(write seconds, ingest seconds, total) for the API writing a file and the worker's ingest of it."""
    from runyard import track
    from runyard.execute.ingest import Ingest
    from runyard.execute.ingest import track as track_execution
    from runyard.model import StepExec
    from runyard.store import open_store

    exec_folder = folder / f"exec-{per}"
    exec_folder.mkdir()
    ex = StepExec(key="e" * 64, experiment="bench", step="produce", command="", needs=(), folder=str(exec_folder),
                  workdir=str(folder))
    os.environ["RUNYARD_METRICS"] = str(exec_folder / "metrics.jsonl")
    track.reset()
    store = open_store(f"sqlite:///{folder / f'inproc-{per}.db'}")
    try:
        log = track.log
        began = time.perf_counter()
        if per == 1:
            for i in range(points):
                log(step=i, loss=1.0 / (i + 1))
        else:
            values = dict.fromkeys(NAMES[:per], 0.5)
            for i in range(points // per):
                for name in values:
                    values[name] = i * 0.001
                log(step=i, **values)
        written = time.perf_counter()
        ingest = Ingest(store)
        ingest.start(track_execution(ex, []))
        ingest.finish(ex.key)
        done = time.perf_counter()
        assert sum(s.count for s in store.metric_summaries([ex.key])[ex.key].values()) == points
    finally:
        store.close()
        track.reset()
        del os.environ["RUNYARD_METRICS"]
    return written - began, done - written, done - began


def bench_raw_sqlite(folder: Path, points: int) -> float:
    """executemany of the same rows into the runyard schema's metrics table and index, one transaction."""
    conn = sqlite3.connect(folder / "raw.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE metrics (exec_key VARCHAR NOT NULL, name VARCHAR NOT NULL, step BIGINT, "
                 "value FLOAT, time FLOAT NOT NULL)")
    conn.execute("CREATE INDEX ix_metrics_key_name ON metrics (exec_key, name)")
    now = time.time()
    rows = [("e" * 64, "loss", i, 1.0 / (i + 1), now + i * 1e-6) for i in range(points)]
    began = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO metrics (exec_key, name, step, value, time) VALUES (?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    took = time.perf_counter() - began
    conn.close()
    return took


MLFLOW = r'''
import json, os, sys, time, logging
logging.disable(logging.WARNING)
import mlflow
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

folder, single, batched = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
client = MlflowClient()
exp = client.create_experiment("bench")
run = client.create_run(exp).info.run_id
began = time.perf_counter()
for i in range(single):
    client.log_metric(run, "loss", 1.0 / (i + 1), step=i)
per_point = (time.perf_counter() - began) / single
run2 = client.create_run(exp).info.run_id
now = int(time.time() * 1000)
began = time.perf_counter()
for start in range(0, batched, 1000):
    client.log_batch(run2, metrics=[Metric("loss", 1.0 / (i + 1), now + i, i)
                                    for i in range(start, min(start + 1000, batched))])
per_batched = (time.perf_counter() - began) / batched
print(json.dumps({"version": mlflow.__version__, "log_metric": per_point, "log_batch": per_batched}))
'''


def bench_mlflow(folder: Path, python: str, single: int, batched: int) -> dict[str, float] | str:
    script = folder / "mlflow_bench.py"
    script.write_text(MLFLOW)
    mlflow_folder = folder / "mlflow"
    mlflow_folder.mkdir()
    done = subprocess.run([python, str(script), str(mlflow_folder), str(single), str(batched)],
                          capture_output=True, text=True, check=False, timeout=1800)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return f"MLflow rows skipped: {python} could not run it ({last})"
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def find_mlflow(explicit: str | None) -> str | None:
    for python in (explicit, os.environ.get("RUNYARD_BENCH_MLFLOW_PYTHON"), sys.executable):
        if python and subprocess.run([python, "-c", "import mlflow"], capture_output=True,
                                     check=False).returncode == 0:
            return python
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--per-call", default="1,4", help="metrics per runyard.log call (comma-separated cases)")
    parser.add_argument("--mlflow-python", help="a Python with mlflow installed (default: this one)")
    parser.add_argument("--mlflow-sample", type=int, default=2000, help="log_metric calls timed")
    parser.add_argument("--mlflow-batch-sample", type=int, default=20_000, help="points sent with log_batch")
    args = parser.parse_args()
    n = args.points
    cases = [int(c) for c in args.per_call.split(",")]
    with tempfile.TemporaryDirectory(prefix="runyard-bench-ingest-") as tmp:
        folder = Path(tmp)
        raw = bench_raw_sqlite(folder, n)
        print(f"metric ingest, {n:,} points")
        for per in cases:
            e2e, wall = bench_run(folder, n, per)
            write, ingest, total = bench_inprocess(folder, n, per)
            print(f"  {per} metric(s) per runyard.log call ({n // per:,} calls)")
            print(f"    runyard run, end to end       {rate(n, e2e)}   [{e2e / raw:.2f}x raw; whole run {wall:.2f} s]")
            print(f"    in-process: runyard.log        {rate(n, write)}")
            print(f"    in-process: ingest → store     {rate(n, ingest)}")
            print(f"    in-process: log + ingest       {rate(n, total)}   [{total / raw:.2f}x raw]")
        print(f"  raw SQLite executemany           {rate(n, raw)}")
        python = find_mlflow(args.mlflow_python)
        if python is None:
            print("  MLflow: not installed here (pip install mlflow, or --mlflow-python PATH): rows skipped")
            return
        found = bench_mlflow(folder, python, args.mlflow_sample, args.mlflow_batch_sample)
        if isinstance(found, str):
            print(f"  {found}")
            return
        single, batched = found["log_metric"], found["log_batch"]
        print(f"  MLflow {found['version']} log_metric (SQLite)  {rate(n, single * n)}   "
              f"[{args.mlflow_sample:,} timed, extrapolated; {single * n / raw:,.0f}x raw]")
        print(f"  MLflow log_batch, 1,000 per call {rate(n, batched * n)}   "
              f"[{args.mlflow_batch_sample:,} timed, extrapolated; {batched * n / raw:,.0f}x raw]")


if __name__ == "__main__":
    main()
