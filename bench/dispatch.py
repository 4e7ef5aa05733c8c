"""Scheduler overhead of `runyard run` against `xargs -P` running the same commands, in the same run.

1. N no-op steps (`python -c pass I`) on S slots: wall time of `runyard run` (a fresh home, every
   execution recorded in full: store rows, folder, command, log, meta.json, provenance) against
   `xargs -P S` running the same `bash -c COMMAND`s. Prints the ratio and the overhead per step.
2. Slot idle gap: M steps of `date +%s.%N` on ONE slot; each step logs the moment it ran, so the
   median interval between consecutive steps is the time from one step's start to the next one's
   (the step itself takes ~1 ms). Same for `xargs -P1`; the difference is runyard's extra gap.

Usage: .venv/bin/python bench/dispatch.py [--steps 1000] [--slots 2] [--gap-steps 200] [--repeat 1]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def write_spec(folder: Path, steps: int, command: str) -> Path:
    values = ", ".join(str(i) for i in range(steps))
    spec = folder / "runyard.yaml"
    spec.write_text(f"experiment: bench\nparams: {{i: 0}}\nsteps:\n  noop: {json.dumps(command)}\n"
                    f"sweeps:\n  all: {{i: [{values}]}}\n")
    return spec


def time_runyard(folder: Path, steps: int, slots: int, command: str,
                 home_base: Path | None = None) -> tuple[float, Path]:
    home = (home_base or folder) / f"home-{time.monotonic_ns()}"
    spec = write_spec(folder, steps, command)
    start = time.perf_counter()
    proc = subprocess.run([str(BIN / "runyard"), "run", str(spec), "--jobs", str(slots), "--home", str(home)],
                          env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"runyard run failed ({proc.returncode}):\n{proc.stdout[-2000:]}")
    return wall, home


def time_xargs(steps: int, slots: int, command: str, out: Path | None = None) -> float:
    lines = "".join(command.replace("{i}", str(i)) + "\n" for i in range(steps))
    start = time.perf_counter()
    with open(out or os.devnull, "w") as sink:
        subprocess.run(["xargs", f"-P{slots}", "-d", "\n", "-n1", "bash", "-c"], input=lines.encode(),
                       env=ENV, stdout=sink, check=True)
    return time.perf_counter() - start


def check_recorded(home: Path, steps: int) -> None:
    from runyard.model import Status
    from runyard.store import open_store

    with open_store(f"sqlite:///{home / 'runyard.db'}") as store:
        counts = store.counts("bench")
    if counts.get(Status.DONE, 0) != steps:
        sys.exit(f"expected {steps} done executions, store says {counts}")


def median_interval(stamps: list[float]) -> float:
    stamps.sort()
    return statistics.median(b - a for a, b in itertools.pairwise(stamps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--gap-steps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="runyard-bench-"))
    try:
        noop = "python -c pass {i}"
        base, ours = [], []
        for _ in range(args.repeat):
            base.append(time_xargs(args.steps, args.slots, noop))
            wall, home = time_runyard(folder, args.steps, args.slots, noop)
            check_recorded(home, args.steps)
            ours.append(wall)
        memory = Path("/dev/shm")
        in_memory = []
        if memory.is_dir() and os.access(memory, os.W_OK):
            shm = Path(tempfile.mkdtemp(prefix="runyard-bench-", dir=memory))
            try:
                for _ in range(args.repeat):
                    wall, home = time_runyard(folder, args.steps, args.slots, noop, home_base=shm)
                    check_recorded(home, args.steps)
                    in_memory.append(wall)
            finally:
                shutil.rmtree(shm, ignore_errors=True)
        b, r = min(base), min(ours)
        print(f"{args.steps} no-op steps on {args.slots} slots (best of {args.repeat})")
        print(f"  xargs -P{args.slots}:   {b:8.2f} s  ({b / args.steps * 1000:.2f} ms/step)")
        print(f"  runyard run: {r:8.2f} s  ({r / args.steps * 1000:.2f} ms/step, everything recorded, home on "
              f"{folder.parent})")
        print(f"  ratio {r / b:.3f}x · overhead {(r - b) / args.steps * 1000:+.2f} ms of wall per step "
              f"(budget: <= 1.5 ms, <= 1.25x)")
        if in_memory:
            m = min(in_memory)
            print(f"  runyard run, home in /dev/shm (the scheduler without the disk's file creation cost): "
                  f"{m:.2f} s · ratio {m / b:.3f}x · overhead {(m - b) / args.steps * 1000:+.2f} ms/step")

        stamp = "date +%s.%N; : {i}"
        xargs_out = folder / "xargs-stamps"
        time_xargs(args.gap_steps, 1, stamp, xargs_out)
        base_gap = median_interval([float(x) for x in xargs_out.read_text().split()])
        _, home = time_runyard(folder, args.gap_steps, 1, stamp)
        logs = (home / "bench" / "steps" / "noop").glob("*/log")
        our_gap = median_interval([float(p.read_text().split()[0]) for p in logs])
        print(f"slot idle gap, {args.gap_steps} steps on 1 slot (median start-to-start of a ~1 ms step)")
        print(f"  xargs -P1: {base_gap * 1000:6.2f} ms · runyard: {our_gap * 1000:6.2f} ms · "
              f"runyard's extra gap {(our_gap - base_gap) * 1000:+.2f} ms (budget: median <= 10 ms)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
