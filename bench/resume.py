"""No-op resume of a finished sweep: `runyard run` when every step execution is already done.

Builds a sweep of N step executions (N/2 runs × 2 steps), submits it, marks every execution done
(folders present, as after a real run), then times a second `runyard run` (expand, submit, find
everything cached, write nothing new) against `runyard plan --json` of the same spec (expand only)
in the same run. DESIGN budget: <= 2 s for 10,000 steps.

Usage: .venv/bin/python bench/resume.py [--steps 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = args.steps // 2
    folder = Path(tempfile.mkdtemp(prefix="runyard-resume-"))
    try:
        spec = folder / "runyard.yaml"
        values = ", ".join(str(i) for i in range(runs))
        spec.write_text("experiment: resume\nparams: {i: 0}\nsteps:\n  a: 'true {i}'\n  b: 'true {i}'\n"
                        f"sweeps:\n  all: {{i: [{values}]}}\n")
        home = folder / "home"
        from runyard.app.planning import plan_spec_file
        from runyard.execute.files import prepare_execution, write_run_folders
        from runyard.model import Status
        from runyard.store import open_store

        plan = plan_spec_file([str(spec)], home=str(home)).plan
        home.mkdir()
        with open_store(f"sqlite:///{home / 'runyard.db'}") as store:
            store.submit(plan)
            for ex in plan.executions:  # upstream first, so each set_status readies the next
                store.set_status(ex.key, Status.DONE, expected=Status.READY)
                prepare_execution(ex)
            write_run_folders(plan)
            assert store.counts("resume")[Status.DONE] == args.steps
        run = [str(BIN / "runyard"), "run", str(spec), "--home", str(home)]
        plan_only = [str(BIN / "runyard"), "plan", str(spec), "--json", "--home", str(home)]
        ours = min(timed(run) for _ in range(args.repeat))
        base = min(timed(plan_only) for _ in range(args.repeat))
        print(f"no-op resume of {args.steps} done step executions ({runs} runs), best of {args.repeat}")
        print(f"  runyard plan --json (expand only): {base:6.2f} s")
        print(f"  runyard run (everything cached):   {ours:6.2f} s  ratio {ours / base:.2f}x "
              f"(budget: <= 2 s)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
