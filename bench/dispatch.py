"""Scheduler overhead of `runyard run` against `xargs -P` running the same commands, in the same run.

1. N no-op steps (`python -c pass I`) on S slots: wall time of `runyard run` (a fresh home, every
   execution recorded in full: store rows, folder, command, log, meta.json, provenance) against
   `xargs -P S` running the same `bash -c COMMAND`s. Prints the ratio and the overhead per step.
   Also the worker's own CPU per step: user+sys of the `runyard run` process itself (read from
   /proc/PID/stat once it has exited, before it is reaped: the steps' CPU is not counted), in total
   and beyond the CPU of a one-step run (the start-up).
2. Fixed start cost: wall of a one-step `runyard run` (fresh home) and of its fully cached re-run.
3. Side by side on a small sweep (200 `python -c pass I` on S slots): runyard, mlrunner (when it is
   installed: `pip install mlrunner`) and `xargs -P S`.
4. Slot idle gap: M steps of `date +%s.%N` on ONE slot; each step logs the moment it ran, so the
   median interval between consecutive steps is the time from one step's start to the next one's
   (the step itself takes ~1 ms). Same for `xargs -P1`; the difference is runyard's extra gap.

Usage: .venv/bin/python bench/dispatch.py [--steps 1000] [--slots 2] [--small 200] [--gap-steps 200] [--repeat 1]
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


TICKS = os.sysconf("SC_CLK_TCK")


def run_measured(argv: list[str], cwd: Path | None = None) -> tuple[float, float]:
    """Run ``argv``; its wall time and its own CPU (user + sys, without its children's), read from
    /proc once it has exited and before it is reaped."""
    start = time.perf_counter()
    with open(os.devnull, "w") as sink:
        proc = subprocess.Popen(argv, env=ENV, cwd=cwd, stdout=sink, stderr=subprocess.PIPE)
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        wall = time.perf_counter() - start
        try:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
        except OSError:
            cpu = float("nan")
        _, err = proc.communicate()
    if proc.returncode != 0:
        sys.exit(f"{argv[0]} failed ({proc.returncode}):\n{err.decode(errors='replace')[-2000:]}")
    return wall, cpu


def time_runyard(folder: Path, steps: int, slots: int, command: str, home_base: Path | None = None,
                 home: Path | None = None) -> tuple[float, float, Path]:
    """Wall and own CPU of one `runyard run` (in a fresh home unless ``home`` is given)."""
    home = home or (home_base or folder) / f"home-{time.monotonic_ns()}"
    spec = write_spec(folder, steps, command)
    wall, cpu = run_measured([str(BIN / "runyard"), "run", str(spec), "--jobs", str(slots), "--home", str(home)])
    return wall, cpu, home


def time_mlrunner(folder: Path, steps: int, slots: int, command: str) -> float | None:
    """Wall of mlrunner's `run` on the same commands (None when mlrunner is not installed)."""
    runner = BIN / "run"
    try:
        import mlrunner  # noqa: F401
    except ImportError:
        return None
    if not runner.exists():
        return None
    place = folder / f"mlrunner-{time.monotonic_ns()}"
    place.mkdir()
    values = ", ".join(str(i) for i in range(steps))
    resources = ", ".join(str(i) for i in range(slots))
    (place / "params.yaml").write_text(f"template:\n  noop: {json.dumps(command)}\ndefault: {{}}\n"
                                       f"resource: [{resources}]\n---\ni: [{values}]\n")
    wall, _ = run_measured([str(runner), "-y", "params.yaml", "-o", "out"], cwd=place)
    return wall


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
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--gap-steps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="runyard-bench-"))
    try:
        noop = "python -c pass {i}"
        base, ours, cpus = [], [], []
        for _ in range(args.repeat):
            base.append(time_xargs(args.steps, args.slots, noop))
            wall, cpu, home = time_runyard(folder, args.steps, args.slots, noop)
            check_recorded(home, args.steps)
            ours.append(wall)
            cpus.append(cpu)
        one, cached, one_cpu = [], [], []
        for _ in range(max(3, args.repeat)):
            wall, cpu, home = time_runyard(folder, 1, args.slots, noop)
            one.append(wall)
            one_cpu.append(cpu)
            cached.append(time_runyard(folder, 1, args.slots, noop, home=home)[0])
            check_recorded(home, 1)
        memory = Path("/dev/shm")
        in_memory = []
        if memory.is_dir() and os.access(memory, os.W_OK):
            shm = Path(tempfile.mkdtemp(prefix="runyard-bench-", dir=memory))
            try:
                for _ in range(args.repeat):
                    wall, _, home = time_runyard(folder, args.steps, args.slots, noop, home_base=shm)
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
        c, c1 = min(cpus), min(one_cpu)
        print(f"  worker CPU (the runyard process itself): {c / args.steps * 1000:.2f} ms/step in total, "
              f"{(c - c1) / max(1, args.steps - 1) * 1000:.2f} ms/step beyond the start-up ({c1:.2f} s)")
        if in_memory:
            m = min(in_memory)
            print(f"  runyard run, home in /dev/shm (the scheduler without the disk's file creation cost): "
                  f"{m:.2f} s · ratio {m / b:.3f}x · overhead {(m - b) / args.steps * 1000:+.2f} ms/step")

        print(f"fixed start cost (best of {len(one)}): one-step run {min(one):.3f} s · fully cached re-run "
              f"{min(cached):.3f} s (budget: < 0.2 s each)")

        small = args.small
        small_xargs = min(time_xargs(small, args.slots, noop) for _ in range(args.repeat))
        small_ours = []
        for _ in range(args.repeat):
            wall, _, home = time_runyard(folder, small, args.slots, noop)
            check_recorded(home, small)
            small_ours.append(wall)
        walls = [time_mlrunner(folder, small, args.slots, noop) for _ in range(args.repeat)]
        mlrunner = [w for w in walls if w is not None]
        print(f"{small} no-op steps on {args.slots} slots, side by side (best of {args.repeat})")
        print(f"  xargs -P{args.slots}: {small_xargs:.2f} s · runyard: {min(small_ours):.2f} s "
              f"({min(small_ours) / small_xargs:.2f}x)", end="")
        if mlrunner:
            m = min(mlrunner)
            print(f" · mlrunner: {m:.2f} s ({m / small_xargs:.2f}x) · runyard / mlrunner {min(small_ours) / m:.2f}x")
        else:
            print(" · mlrunner not installed")

        stamp = "date +%s.%N; : {i}"
        xargs_out = folder / "xargs-stamps"
        time_xargs(args.gap_steps, 1, stamp, xargs_out)
        base_gap = median_interval([float(x) for x in xargs_out.read_text().split()])
        _, _, home = time_runyard(folder, args.gap_steps, 1, stamp)
        logs = (home / "bench" / "steps" / "noop").glob("*/log")
        our_gap = median_interval([float(p.read_text().split()[0]) for p in logs])
        print(f"slot idle gap, {args.gap_steps} steps on 1 slot (median start-to-start of a ~1 ms step)")
        print(f"  xargs -P1: {base_gap * 1000:6.2f} ms · runyard: {our_gap * 1000:6.2f} ms · "
              f"runyard's extra gap {(our_gap - base_gap) * 1000:+.2f} ms (budget: median <= 10 ms)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
