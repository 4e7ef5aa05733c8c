"""Trivial `call:` executions per second on S slots: warm slot processes against the cold call path and two
baselines, in the same run.

1. `runyard run --warm --jobs S`: N executions of a trivial call step (`def square(x): return {"y": x * x}`,
   one metric each; `--no-metric`: it returns None), every one recorded in full (store rows, folder, log,
   meta.json, metric, result). Two rates: N / the whole command's wall time (start-up, planning and submit
   included), and N / the span from the first execution's start to the last one's end (as recorded).
2. The same with today's cold call path (`runyard run --jobs S`: `python -m runyard.call` per execution), on
   fewer executions (`--cold-steps`).
3. `xargs -P S python -c ...`: a Python process per execution doing the same arithmetic, nothing recorded.
4. Optuna's in-memory loop: `optuna.create_study(sampler=RandomSampler()).optimize(f, n_trials=N, n_jobs=S)`
   with the same trivial objective (when optuna is importable: `pip install optuna`); the random sampler so
   that the figure is the loop's, not TPE's, whose cost per trial grows with the trials.

The worker's own CPU per execution is printed too: one worker process records every execution, so on an
idle machine it bounds the rate (a second core runs the calls).

Usage: .venv/bin/python bench/calls.py [--steps 10000] [--slots 2] [--cold-steps 300] [--xargs-steps 1000]
       [--no-metric] [--no-optuna]  (0 steps: that part is skipped)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
STEP = {True: "def square(x=0):\n    return {'y': x * x}\n", False: "def square(x=0):\n    x * x\n"}


def write_spec(folder: Path, steps: int, metric: bool) -> Path:
    (folder / "steps.py").write_text(STEP[metric])
    values = ", ".join(str(i) for i in range(steps))
    spec = folder / "runyard.yaml"
    spec.write_text(f"experiment: calls\nparams: {{x: 0}}\nsteps:\n  square: {{call: steps:square}}\n"
                    f"sweeps:\n  all: {{x: [{values}]}}\n")
    return spec


TICKS = os.sysconf("SC_CLK_TCK")


def time_runyard(folder: Path, steps: int, slots: int, metric: bool,
                 *extra: str) -> tuple[float, float, float, float]:
    """(wall of the whole `runyard run`, span from the first recorded start to the last recorded end, CPU
    of the `runyard run` process itself: user + sys without its children's, and the CPU of its children it
    reaped (the steps' processes, warm slot processes included), read from /proc once it has exited and
    before it is reaped)."""
    home = folder / f"home-{time.monotonic_ns()}"
    spec = write_spec(folder, steps, metric)
    start = time.perf_counter()
    argv = [str(BIN / "runyard"), "run", str(spec), "--jobs", str(slots), "--home", str(home), *extra]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, env=ENV, cwd=folder, stdout=subprocess.DEVNULL, stderr=err)
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        wall = time.perf_counter() - start
        try:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / TICKS
            children = (int(fields[13]) + int(fields[14])) / TICKS
        except OSError:
            cpu = children = float("nan")
        if proc.wait() != 0:
            err.seek(0)
            sys.exit(f"runyard run {' '.join(extra)} failed ({proc.returncode}):\n{err.read().decode()[-2000:]}")
    return wall, recorded_span(home, steps), cpu, children


def recorded_span(home: Path, steps: int) -> float:
    from runyard.model import Status
    from runyard.store import open_store

    with open_store(f"sqlite:///{home / 'runyard.db'}") as store:
        executions = store.executions("calls")
    done = [ex for ex in executions if ex.status == Status.DONE]
    if len(done) != steps:
        sys.exit(f"expected {steps} done executions, the store has {len(done)}")
    return max(ex.ended or 0.0 for ex in done) - min(ex.started or 0.0 for ex in done)


def time_xargs(steps: int, slots: int) -> float:
    lines = "".join(f"x = {i}; x * x\n" for i in range(steps))
    start = time.perf_counter()
    subprocess.run(["xargs", f"-P{slots}", "-d", "\n", "-n1", sys.executable, "-c"], input=lines.encode(), env=ENV,
                   stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def time_optuna(steps: int, slots: int) -> float | None:
    try:
        import optuna
    except ImportError:
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -10, 10)
        return x * x

    start = time.perf_counter()
    # the random sampler: the loop's own cost (TPE's grows with the trials: 10,000 take most of an hour)
    optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).optimize(objective, n_trials=steps,
                                                                                 n_jobs=slots)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--cold-steps", type=int, default=300)
    parser.add_argument("--xargs-steps", type=int, default=1000)
    parser.add_argument("--no-metric", dest="metric", action="store_false", help="the step returns None")
    parser.add_argument("--no-optuna", dest="optuna", action="store_false", help="skip Optuna's loop")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="runyard-bench-calls-"))
    try:
        rates: dict[str, float] = {}
        print(f"trivial call steps on {args.slots} slots ({'one metric each' if args.metric else 'no metric'})")
        for name, steps, extra in (("warm", args.steps, ["--warm"]), ("cold", args.cold_steps, [])):
            if steps <= 0:
                continue
            wall, span, cpu, children = time_runyard(folder, steps, args.slots, args.metric, *extra)
            rates[name] = steps / span
            print(f"  runyard run {' '.join(extra) or '(cold)':7s} {steps:6d} executions: {steps / wall:8.1f}/s over "
                  f"the whole run ({wall:.1f} s), {steps / span:8.1f}/s first start to last end ({span:.1f} s); "
                  f"CPU per execution: the worker's own {cpu / steps * 1000:.2f} ms, the steps' processes "
                  f"{children / steps * 1000:.2f} ms")
        if args.xargs_steps > 0:
            took = time_xargs(args.xargs_steps, args.slots)
            rates["xargs"] = args.xargs_steps / took
            print(f"  xargs -P{args.slots} python -c  {args.xargs_steps:6d} processes:  {rates['xargs']:8.1f}/s "
                  f"({took:.1f} s)")
        took_optuna = time_optuna(args.steps, args.slots) if args.optuna else None
        if took_optuna is None:
            print("  optuna: skipped" + ("" if not args.optuna else " (not installed: pip install optuna)"))
        else:
            rates["optuna"] = args.steps / took_optuna
            print(f"  optuna optimize n_jobs={args.slots} {args.steps:6d} trials:  {rates['optuna']:8.1f}/s "
                  f"({took_optuna:.1f} s, in memory, nothing recorded)")
        print("ratios (executions/s, warm first start to last end):")
        for name in ("cold", "xargs", "optuna"):
            if name in rates and "warm" in rates:
                print(f"  warm / {name:6s} {rates['warm'] / rates[name]:6.2f}x")
        if "warm" in rates:
            print(f"  target 1000/s: {'met' if rates['warm'] >= 1000 else 'not met'} ({rates['warm']:.0f}/s)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
