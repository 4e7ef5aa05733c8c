"""A sweep of short steps on a one-node Slurm cluster: how long ``runyard run --executor slurm`` takes to finish
it and how many Slurm jobs it submits, against the local executor on the same sweep (the baseline, same run).

Starts the test cluster (``runyard.testing.slurmcluster``: needs root and the Debian packages slurm-wlm,
slurmdbd, munge and mariadb-server), writes a spec of N one-second-free steps (``true``, one per run), then
times, each in a fresh home:

(a) ``runyard run`` with the local executor (``--jobs 4``: four steps at once),
(b) ``runyard run --executor slurm`` with worker jobs (``slurm: {workers: 4}``: four Slurm jobs, each a
    ``runyard worker`` pulling steps from the store),
(c) with ``--per-step``: ``slurm: {workers: 0}``, one Slurm job per step (at most 64 at once).

Usage: .venv/bin/python bench/slurm.py [--steps 200] [--per-step]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPEC = """\
experiment: bench
params: {{i: 0}}
steps:
  noop: true {{i}}
sweeps:
  grid: {{i: {values}}}
slurm: {{workers: {workers}, time: 30m}}
"""


def sweep(folder: Path, steps: int, workers: int) -> Path:
    folder.mkdir()
    spec = folder / "runyard.yaml"
    spec.write_text(SPEC.format(values=list(range(steps)), workers=workers))
    return spec


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return elapsed, done.stdout


def jobs_of(cluster: object, before: set[str]) -> int:
    out = cluster.command("sacct", "-n", "-X", "-P", "-o", "JobIDRaw", "-S", "now-1days")  # type: ignore[attr-defined]
    return len({line.strip() for line in out.splitlines() if line.strip()} - before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--per-step", action="store_true", help="also time one Slurm job per step")
    args = parser.parse_args()
    from runyard.testing.slurmcluster import start_cluster

    cluster = start_cluster(gpus=0)
    env = {**os.environ, **cluster.env}
    runyard = [sys.executable, "-m", "runyard", "run"]
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="runyard-bench-slurm-") as tmp:
            local, _ = timed([*runyard, str(sweep(Path(tmp) / "local", args.steps, 4)), "--jobs", "4"], env)
            rows.append(("local executor, 4 at once", local, 0))
            modes = [("slurm: 4 worker jobs", 4)] + ([("slurm: one job per step", 0)] if args.per_step else [])
            for label, workers in modes:
                before = set(cluster.command("sacct", "-n", "-X", "-P", "-o", "JobIDRaw", "-S",
                                             "now-1days").split())
                folder = Path(tmp) / f"slurm{workers}"
                elapsed, _ = timed([*runyard, str(sweep(folder, args.steps, workers)), "--executor", "slurm"], env)
                rows.append((label, elapsed, jobs_of(cluster, before)))
    finally:
        cluster.stop()
    print(f"{args.steps} no-op steps on a one-node Slurm cluster (16 CPUs declared, this machine: "
          f"{os.cpu_count()} cores)")
    print(f"{'':28} {'seconds':>8} {'per step':>9} {'Slurm jobs':>11} {'vs local':>9}")
    for label, elapsed, jobs in rows:
        print(f"{label:28} {elapsed:8.1f} {elapsed / args.steps * 1000:7.0f}ms {jobs:11d} {elapsed / local:8.2f}x")


if __name__ == "__main__":
    main()
