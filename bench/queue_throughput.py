"""Throughput of the queue with 1, 2 and 4 workers, on SQLite and on PostgreSQL.

1. Claims per second: P processes, each looping ``claim(limit=1)`` → ``finish(done)`` on a pre-submitted
   sweep of N no-op executions (nothing is launched: the store's claim/finish path alone), until the
   queue is empty. claims/s = N / wall time from the moment every process is ready to the last one done.
2. End-to-end no-op executions per second: W real ``runyard worker --burst`` processes (``--jobs J`` each)
   drain a submitted sweep of M ``true`` steps (launch, log, meta.json, provenance, store records).
   exec/s = M / wall time from starting the workers (their start-up included) to the last execution
   recorded done; the exit lag is the time from then until the last worker exited (a burst worker with
   nothing left to claim waits for the others' steps, polling).

PostgreSQL is a server started by the bench (``runyard.testing.pgserver``: local, fsync off,
synchronous_commit off, as in the tests); SQLite is a file in a temporary folder. Each configuration gets
a fresh store; the figure is the best of ``--repeat`` runs. Ratios are against 1 worker on the same store.

Usage: .venv/bin/python bench/queue_throughput.py [--claims 4000] [--executions 1000] [--workers 1,2,4] [--jobs 1]
                                       [--repeat 3] [--backends sqlite,postgresql] [--explain]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# This file is named like the standard library's queue module, which multiprocessing imports later on:
# keep its folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

BIN = Path(sys.executable).parent
EXPERIMENT = "bench-queue"


def write_spec(folder: Path, count: int, command: str) -> Path:
    spec = folder / "runyard.yaml"
    values = ", ".join(str(i) for i in range(count))
    spec.write_text(f"experiment: {EXPERIMENT}\nparams: {{i: 0}}\nsteps:\n  noop: {command} {{i}}\n"
                    f"sweeps:\n  all: {{i: [{values}]}}\n")
    return spec


def submit(url: str, folder: Path, count: int, command: str = "true") -> None:
    """Submit ``count`` independent no-op executions to the store at ``url`` (not timed)."""
    from runyard.app.session import forced_keys
    from runyard.spec import expand, load_spec
    from runyard.store import open_store

    plan = expand(load_spec(write_spec(folder, count, command)), home=str(folder / "home"))
    with open_store(url) as store:
        result = store.submit(plan, force=forced_keys(plan, force=False, steps=()))
    assert result.queued == count, result


# --- 1. claims per second ---------------------------------------------------------------------------


def _claimer(url: str, name: str, ready: Any, go: Any, out: Any) -> None:
    from runyard.model import Status
    from runyard.store import open_store

    with open_store(url) as store:
        store.counts(EXPERIMENT)  # connected, schema read
        ready.put(name)
        go.wait()
        claims = 0
        began = time.perf_counter()
        while True:
            taken = store.claim(name, lambda record: True, limit=1, experiment=EXPERIMENT)
            if not taken:
                break
            store.finish(taken[0].key, name, status=Status.DONE, exit_code=0)
            claims += 1
        out.put((name, claims, time.perf_counter() - began, time.perf_counter()))


class ActivitySampler:
    """What the PostgreSQL backends of one database are doing, sampled every ``interval`` seconds from
    ``pg_stat_activity`` while the benchmark runs: (state, wait event type, wait event, statement)."""

    def __init__(self, url: str, interval: float = 0.002) -> None:
        self.url, self.interval = url, interval
        self.samples: Counter[tuple[str, str, str, str]] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ActivitySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psycopg

        query = ("SELECT state, coalesce(wait_event_type, 'CPU'), coalesce(wait_event, '-'), "
                 "left(regexp_replace(query, '\\s+', ' ', 'g'), 48) FROM pg_stat_activity "
                 "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
        with psycopg.connect(self.url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
            while not self._stop.is_set():
                for state, kind, event, sql in conn.execute(query).fetchall():
                    self.samples[(state, kind, event, sql if state != "idle" else "")] += 1
                time.sleep(self.interval)

    def report(self, top: int = 10) -> None:
        total = sum(self.samples.values()) or 1
        print(f"    backend states over {total} samples (state · wait event · statement):")
        for (state, kind, event, sql), n in self.samples.most_common(top):
            print(f"    {n / total:6.1%}  {state} · {kind}:{event} · {sql}")


def claims_per_second(url: str, count: int, processes: int, sample_waits: bool = False) -> float:
    ctx = mp.get_context("spawn")  # a fresh interpreter per claimer: no engine crosses a fork
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_claimer, args=(url, f"claimer-{n}", ready, go, out)) for n in range(processes)]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=60)
    sampler = ActivitySampler(url) if sample_waits else None
    if sampler is not None:
        sampler.__enter__()
    began = time.perf_counter()
    go.set()
    results = [out.get(timeout=600) for _ in procs]
    if sampler is not None:
        sampler.__exit__()
        print(f"  {processes} claimer(s):")
        sampler.report()
    for proc in procs:
        proc.join(60)
    total = sum(claims for _, claims, _, _ in results)
    if total != count:
        sys.exit(f"{total} claims for {count} executions: some claimed twice or never ({results})")
    return count / (max(end for *_, end in results) - began)


# --- 2. end-to-end executions per second ---------------------------------------------------------


def executions_per_second(url: str, folder: Path, count: int, workers: int, jobs: int) -> tuple[float, float]:
    """(executions per second from starting the workers to the last execution recorded done, seconds from
    then until the last worker exited)."""
    from runyard.model import Status
    from runyard.store import open_store

    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "RUNYARD_HOME": str(folder / "home")}
    argv = [str(BIN / "runyard"), "worker", "--store", url, "--burst", "--jobs", str(jobs), "--gpus", "none"]
    logs = [open(folder / f"worker-{n}.txt", "w") for n in range(workers)]  # noqa: SIM115 - closed below
    began = time.time()
    procs = [subprocess.Popen(argv, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT) for log in logs]
    codes = [proc.wait() for proc in procs]
    exited = time.time()
    for log in logs:
        log.close()
    if any(codes):
        text = "".join((folder / f"worker-{n}.txt").read_text()[-1500:] for n in range(workers))
        sys.exit(f"a worker failed ({codes}):\n{text}")
    with open_store(url) as store:
        records = store.executions(EXPERIMENT)
    done = [r for r in records if r.status == Status.DONE and r.ended is not None]
    if len(done) != count:
        sys.exit(f"expected {count} done executions, the store has {len(done)}")
    last = max(r.ended for r in done if r.ended is not None)
    return count / (last - began), exited - last


# --- stores -------------------------------------------------------------------------------------------


@contextmanager
def sqlite_store(base: Path) -> Iterator[Callable[[], str]]:
    counter = iter(range(1_000_000))

    def fresh() -> str:
        folder = base / f"sqlite-{next(counter)}"
        folder.mkdir()
        return f"sqlite:///{folder}/runyard.db"

    yield fresh


@contextmanager
def pg_store() -> Iterator[Callable[[], str]]:
    from runyard.testing.pgserver import start_server

    server = start_server()
    try:
        yield server.create_database
    finally:
        server.stop()


def best(repeat: int, run: Callable[[], float]) -> float:
    return max(run() for _ in range(repeat))


def bench_backend(name: str, fresh: Callable[[], str], base: Path, args: argparse.Namespace) -> list[tuple[Any, ...]]:
    rows = []
    for workers in args.workers:
        def one_claim_round(workers: int = workers) -> float:
            url = fresh()
            folder = Path(tempfile.mkdtemp(dir=base))
            submit(url, folder, args.claims)
            return claims_per_second(url, args.claims, workers, sample_waits=args.waits and name == "postgresql")

        def one_e2e_round(workers: int = workers) -> tuple[float, float]:
            url = fresh()
            folder = Path(tempfile.mkdtemp(dir=base))
            submit(url, folder, args.executions)
            return executions_per_second(url, folder, args.executions, workers, args.jobs)

        claims = best(args.repeat, one_claim_round)
        e2e, lag = max((one_e2e_round() for _ in range(args.repeat)), default=(math.nan, math.nan)) \
            if args.executions else (math.nan, math.nan)
        rows.append((name, workers, claims, e2e, lag))
        print(f"  {name:<10} {workers} worker(s): {claims:8.0f} claims/s · {e2e:7.0f} exec/s "
              f"(then {lag:.2f} s until the last worker exited)", flush=True)
    return rows


def explain(url: str) -> None:
    """The plan of the claim statement on a submitted store (PostgreSQL: EXPLAIN ANALYZE, rolled back)."""
    from runyard.store import open_store

    with open_store(url) as store:
        sql_store: Any = store
        compiled = sql_store._pick_one.compile(dialect=sql_store._engine.dialect)
        params = compiled.construct_params({"window": 8, "exp": EXPERIMENT})
        prefix = "EXPLAIN (ANALYZE, BUFFERS) " if sql_store.is_pg else "EXPLAIN QUERY PLAN "
        positional = [params[name] for name in compiled.positiontup or ()]
        with sql_store._engine.connect() as conn:
            rows = conn.exec_driver_sql(prefix + str(compiled), tuple(positional) if positional else params)
            for row in rows:
                print("    " + " | ".join(str(c) for c in row))
            conn.rollback()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", type=int, default=4000, help="executions in the claim benchmark")
    parser.add_argument("--executions", type=int, default=1000, help="executions in the end-to-end benchmark (0: skip)")
    parser.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4])
    parser.add_argument("--jobs", type=int, default=1, help="slots per worker in the end-to-end benchmark")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--explain", action="store_true", help="print the plan of the claim query")
    parser.add_argument("--waits", action="store_true", help="sample pg_stat_activity during the PostgreSQL claims")
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    base = Path(tempfile.mkdtemp(prefix="runyard-bench-queue-"))
    print(f"queue throughput: {args.claims} claims (claim(limit=1) + finish), {args.executions} no-op "
          f"executions end to end ({args.jobs} slot(s) per worker); best of {args.repeat}; "
          f"{os.cpu_count()} CPUs")
    rows: list[tuple[Any, ...]] = []
    try:
        for backend in backends:
            with sqlite_store(base) if backend == "sqlite" else pg_store() as fresh:
                rows += bench_backend(backend, fresh, base, args)
                if args.explain:
                    url = fresh()
                    submit(url, Path(tempfile.mkdtemp(dir=base)), args.claims)
                    print(f"  claim query plan ({backend}):")
                    explain(url)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print()
    print(f"{'backend':<11}{'workers':>8}{'claims/s':>11}{'× 1':>7}{'exec/s':>9}{'× 1':>7}{'exit lag s':>12}")
    first: dict[str, tuple[float, float]] = {}
    for backend, workers, claims, e2e, lag in rows:
        base_claims, base_e2e = first.setdefault(backend, (claims, e2e))
        print(f"{backend:<11}{workers:>8}{claims:>11.0f}{claims / base_claims:>7.2f}{e2e:>9.0f}{e2e / base_e2e:>7.2f}"
              f"{lag:>12.2f}")

if __name__ == "__main__":
    main()
