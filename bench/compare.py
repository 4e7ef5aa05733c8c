"""Compare over a large sweep: 100,000 runs × 20 params × 5 metrics to a DataFrame and to CSV.

Builds a SQLite store with N synthetic finished runs (3 steps each: a shared ``prep``, ``train``
reporting 4 metrics and ``test`` reporting 1; rows inserted in bulk with SQL, consistent with what
submit + workers + ingestion write), then times, best of ``--repeat``:

(a) ``runyard.open(home).runs(exp).df``,
(b) ``RunSet.compare()`` written as CSV (library call) and ``runyard compare --format csv`` (CLI subprocess),
(c) the baseline: a plain ``pandas.read_sql`` of the same rows (runs joined with their metric summaries).

DESIGN budget: <= 1 s to a DataFrame / CSV.

Usage: .venv/bin/python bench/compare.py [--runs 100000] [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
EXPERIMENT = "bench"
METRICS = {"loss": ("train", "min"), "acc": ("train", "max"), "ppl": ("train", "min"),
           "grad_norm": ("train", "min"), "bleu": ("test", "max")}
DATA = ["iwslt14", "wmt14", "wmt16", "opus"]


def _key(*parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _params(i: int, rng: random.Random) -> dict[str, Any]:
    params: dict[str, Any] = {
        "data": DATA[i % 4], "seed": i % 5, "lr": [0.1, 0.01, 0.001][i % 3], "norm": ["batch", "layer"][i % 2],
        "early-stop": bool(i % 2), "trial": i,
    }
    for j in range(6, 20):  # 14 more: ints, floats and words
        params[f"p{j:02d}"] = (rng.randrange(100), round(rng.random(), 3), f"w{rng.randrange(10)}")[j % 3]
    return params


def build(home: Path, runs: int, *, seed: int = 0) -> str:
    """Create ``home/runyard.db`` holding one experiment of ``runs`` finished runs; return its URL."""
    from runyard.store import open_store

    url = f"sqlite:///{home / 'runyard.db'}"
    open_store(url).close()  # the schema, as runyard creates it
    rng = random.Random(seed)
    now = time.time() - 86_400
    spec = {"experiment": EXPERIMENT, "params": _params(0, random.Random(seed)),
            "steps": {"prep": "python prep.py --data {data} --out {out}", "train": "python train.py {*}",
                      "test": "python test.py --ckpt {train.out}"},
            "metrics": {name: {"step": step, "mode": mode} for name, (step, mode) in METRICS.items()}}
    base = home / EXPERIMENT
    execs: list[tuple[Any, ...]] = []
    needs: list[tuple[str, str]] = []
    run_rows: list[tuple[Any, ...]] = []
    links: list[tuple[str, str, int, str]] = []
    points: list[tuple[Any, ...]] = []
    summaries: list[tuple[Any, ...]] = []
    seq = 0

    def execution(key: str, step: str, command: str, need: list[str], params: dict[str, Any], t0: float) -> None:
        nonlocal seq
        seq += 1
        dur = rng.uniform(10, 100)
        execs.append((key, EXPERIMENT, step, command, json.dumps(need), str(base / "steps" / step / key[:12]),
                      str(home.parent), _dumps(params), 0, None, 0, "done", 1, 0, seq, "w1", "host", 1, 1, 0,
                      now, t0, t0 + dur, dur, None, None, None, None, None, "command", "", None, 0, None))
        needs.extend((key, n) for n in need)

    def report(key: str, step: str, t: float) -> None:
        for name, (metric_step, _) in METRICS.items():
            if metric_step != step:
                continue
            values = [rng.uniform(0, 40), rng.uniform(0, 40)] if step == "train" else [rng.uniform(0, 40)]
            for index, value in enumerate(values):
                points.append((key, name, index, value, t + index))
            summaries.append((key, name, values[-1], len(values) - 1, min(values), max(values), len(values), t))

    prep = {data: _key(EXPERIMENT, "prep", data) for data in DATA}
    for data, key in prep.items():
        execution(key, "prep", f"python prep.py --data {data}", [], {"data": data}, now)
    for i in range(runs):
        params = _params(i, rng)
        rid = _key(EXPERIMENT, _dumps(params))
        name = f"run-{i}"
        train, test = _key(rid, "train"), _key(rid, "test")
        t0 = now + i
        execution(train, "train", f"python train.py --trial {i}", [prep[params["data"]]], params, t0)
        report(train, "train", t0 + 100)
        execution(test, "test", f"python test.py --ckpt {i}", [train], {}, t0 + 200)
        report(test, "test", t0 + 300)
        run_rows.append((rid, EXPERIMENT, name, _dumps(params), str(base / "runs" / name), now + i * 1e-3,
                         "sweep", None, "[]", ""))
        links += [(rid, "prep", 0, prep[params["data"]]), (rid, "train", 1, train), (rid, "test", 2, test)]
    db = sqlite3.connect(home / "runyard.db")
    with db:
        db.execute("INSERT INTO experiments VALUES (?, ?, ?, ?, 0, ?, ?)",
                   (EXPERIMENT, _dumps(spec), str(home.parent / "runyard.yaml"), str(home), now, now))
        db.executemany(f"INSERT INTO executions VALUES ({', '.join('?' * 34)})", execs)
        db.executemany("INSERT INTO exec_needs VALUES (?, ?)", needs)
        db.executemany("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", run_rows)
        db.executemany("INSERT INTO run_steps VALUES (?, ?, ?, ?)", links)
        db.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?)", points)
        db.executemany("INSERT INTO metric_summary VALUES (?, ?, ?, ?, ?, ?, ?, ?)", summaries)
        db.execute("INSERT INTO meta VALUES ('seq', ?)", (str(seq),))
    db.execute("ANALYZE")
    db.close()
    return url


BASELINE_SQL = """
SELECT r.id, r.name, r.params, rs.step, s.name AS metric, s."last", s."min", s."max", s."count"
FROM runs r JOIN run_steps rs ON rs.run_id = r.id JOIN metric_summary s ON s.exec_key = rs.exec_key
WHERE r.experiment = 'bench'
"""


def best(func: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """Best wall time and best CPU time (every thread of this process) of ``repeat`` calls."""
    times, cpus, result = [], [], None
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        result = func()
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return min(times), min(cpus), result


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_cli(argv: list[str]) -> Iterator[tuple[float, float]]:
    """(wall, CPU) of each run of ``argv`` as a new process."""
    while True:
        start, cpu = time.perf_counter(), _children_cpu()
        proc = subprocess.run(argv, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        yield wall, _children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", metavar="DIR", help="Build the store in DIR and keep it (reused when present).")
    args = parser.parse_args()
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="runyard-compare-"))
    home = folder / "home"
    try:
        if not (home / "runyard.db").exists():
            home.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            build(home, args.runs)
            print(f"built {args.runs:,} runs × 20 params × 5 metrics in {time.perf_counter() - start:.1f} s")
        import pandas as pd
        import sqlalchemy

        import runyard

        engine = sqlalchemy.create_engine(f"sqlite:///{home / 'runyard.db'}")

        def baseline() -> object:
            with engine.connect() as conn:
                return pd.read_sql(sqlalchemy.text(BASELINE_SQL), conn)

        def frame() -> object:
            with runyard.open(str(home)) as yard:
                return yard.runs(EXPERIMENT).df

        def to_csv() -> object:
            with runyard.open(str(home)) as yard:
                return yard.runs(EXPERIMENT).render("csv")

        t_base, c_base, rows = best(baseline, args.repeat)
        t_df, c_df, df = best(frame, args.repeat)
        t_csv, c_csv, csv_text = best(to_csv, args.repeat)
        assert df.shape == (args.runs, 32), df.shape  # type: ignore[attr-defined]
        assert str(csv_text).count("\n") == args.runs + 1
        cli = [str(BIN / "runyard"), "compare", EXPERIMENT, "--format", "csv", "--home", str(home)]
        cli_runs = [t for t, _ in zip(timed_cli(cli), range(args.repeat), strict=False)]
        t_cli, c_cli = min(w for w, _ in cli_runs), min(c for _, c in cli_runs)
        print(f"compare over {args.runs:,} runs × 20 params × 5 metrics (SQLite), best of {args.repeat}; "
              f"wall time, CPU time (all threads) in brackets, wall time / the baseline's")
        lines = [
            (f"(c) baseline: pandas.read_sql of runs ⋈ summaries ({len(rows):,} rows)", t_base, c_base, ""),  # type: ignore[arg-type]
            ("(a) runyard.open(home).runs(exp).df", t_df, c_df, "  (budget <= 1 s)"),
            ("(b) runs.render('csv'): the compare table as CSV (library)", t_csv, c_csv, ""),
            ("(b) runyard compare --format csv (a new process)", t_cli, c_cli, "  (budget <= 1 s)"),
        ]
        for label, seconds, cpu, note in lines:
            ratio = "" if seconds is t_base else f"  {seconds / t_base:.2f}x baseline"
            print(f"  {label:<66} {seconds:6.3f} s ({cpu:6.3f} s){ratio}{note}")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
