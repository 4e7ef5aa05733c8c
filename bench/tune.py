"""Tuning throughput and warm start, against Optuna alone in the same run.

(a) ``--trials`` (500) TPE trials of a trivial ``call:`` objective on 2 slots with ``runyard tune``'s use
    case (every trial a recorded run: store rows, execution folder, log, metrics), against
    ``optuna.create_study().optimize(objective, n_trials, n_jobs=2)`` in memory (nothing recorded).
    Also the same study with ``--warm`` (call steps in warm slot processes, 2 slots) and with ``--executor
    inline`` (call steps in the worker's process, one slot).
(b) Warm start: a store holding ``--past`` (10,000) finished runs (the synthetic store of
    ``bench/compare.py``), read and added to an in-memory study (what a ``runyard tune`` of that
    experiment does first), against Optuna's own SQLite storage given ``--rdb`` (1,000) of the same trials,
    and ``add_trials`` of the same trials into an in-memory study (the floor).

Usage: .venv/bin/python bench/tune.py [--trials 500] [--past 10000] [--rdb 1000] [--skip-trials]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

OBJECTIVE_PY = '''
def objective(x: float = 0.0, y: float = 0.0) -> dict:
    return {"value": (x - 0.3) ** 2 + (y + 0.1) ** 2}
'''

SPEC = '''
experiment: bench-tune
steps:
  f: {{call: "tuneobj:objective"}}
tune:
  params:
    x: {{uniform: [-1, 1]}}
    y: {{uniform: [-1, 1]}}
  objective: {{metric: value, direction: minimize}}
  trials: {trials}
  seed: 0
  pruner: none
'''


def optuna_alone(trials: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        x, y = trial.suggest_float("x", -1, 1), trial.suggest_float("y", -1, 1)
        return (x - 0.3) ** 2 + (y + 0.1) ** 2

    started = time.perf_counter()
    optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0)).optimize(objective, n_trials=trials, n_jobs=2)
    return time.perf_counter() - started


def runyard_tune(folder: Path, trials: int, *, inline: bool, warm: bool = False) -> tuple[float, int, int]:
    """Seconds, trials recorded complete, executions recorded done."""
    from runyard.app.session import RunOptions
    from runyard.app.tuning_run import run_tune
    from runyard.model import Status
    from runyard.spec.load import load_spec
    from runyard.store import open_store

    if (folder / ".runyard").exists():
        shutil.rmtree(folder / ".runyard")
    spec = load_spec(str(folder / "runyard.yaml"))
    options = RunOptions(home=folder / ".runyard", jobs=1 if inline else 2, inline=inline, warm=warm)
    sys.path.insert(0, str(folder))
    started = time.perf_counter()
    run_tune(spec, options)
    seconds = time.perf_counter() - started
    sys.path.remove(str(folder))
    with open_store(f"sqlite:///{folder / '.runyard' / 'runyard.db'}") as store:
        complete = sum(row.state == "complete" for row in store.tune_trials("bench-tune"))  # type: ignore[attr-defined]
        done = sum(e.status == Status.DONE for e in store.executions("bench-tune"))
    return seconds, complete, done


def warm_start(folder: Path, past: int, rdb: int) -> None:
    sys.path.insert(0, str(HERE))
    import compare  # bench/compare.py: the synthetic store of finished runs

    from runyard.app.tuning_engine import Engine
    from runyard.app.tuning_past import past_runs
    from runyard.spec.load import spec_from_dict
    from runyard.store import open_store

    home = folder / "past" / ".runyard"
    home.mkdir(parents=True)
    t0 = time.perf_counter()
    url = compare.build(home, past)
    print(f"  built a store of {past:,} finished runs in {time.perf_counter() - t0:.1f} s")
    spec = spec_from_dict({
        "experiment": compare.EXPERIMENT, "steps": {"train": "python train.py {*}"},
        "metrics": {"loss": {"step": "train", "mode": "min"}},
        "tune": {"params": {"lr": {"loguniform": [1e-4, 1.0]}, "seed": {"int": [0, 4]}},
                 "objective": {"metric": "loss", "direction": "minimize"}},
    }, folder=folder)
    assert spec.tune is not None
    with open_store(url) as store:
        started = time.perf_counter()
        runs = past_runs(store, compare.EXPERIMENT, spec.tune, {})
        read = time.perf_counter() - started
        engine = Engine(spec.tune, {})
        engine.add_past(runs)
        engine.ask(0)
        total = time.perf_counter() - started
    print(f"  runyard warm start: {len(runs):,} past runs read in {read:.2f} s, in the study and the first trial "
          f"asked in {total:.2f} s")

    import optuna

    trials = [engine._frozen(params, "complete", values, None, None) for params, values, _ in runs]
    started = time.perf_counter()
    memory = optuna.create_study(direction="minimize")
    memory.add_trials(trials)
    print(f"  optuna in memory, add_trials of the same {len(trials):,}: {time.perf_counter() - started:.2f} s (floor)")
    storage = f"sqlite:///{folder / 'optuna.db'}"
    started = time.perf_counter()
    rdb_study = optuna.create_study(direction="minimize", storage=storage)
    rdb_study.add_trials(trials[:rdb])
    rdb_seconds = time.perf_counter() - started
    print(f"  optuna's own SQLite storage, add_trials of {rdb:,}: {rdb_seconds:.2f} s "
          f"(~{rdb_seconds * len(trials) / max(rdb, 1):.0f} s for {len(trials):,} at that rate)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--past", type=int, default=10_000)
    parser.add_argument("--rdb", type=int, default=1_000)
    parser.add_argument("--skip-trials", action="store_true", help="only the warm start")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="runyard-bench-tune-"))
    try:
        (folder / "tuneobj.py").write_text(textwrap.dedent(OBJECTIVE_PY))
        (folder / "runyard.yaml").write_text(SPEC.format(trials=args.trials))
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        if not args.skip_trials:
            print(f"(a) {args.trials} TPE trials of a trivial objective")
            base = optuna_alone(args.trials)
            print(f"  optuna.create_study().optimize(n_jobs=2), in memory: {base:.2f} s "
                  f"({args.trials / base:.0f} trials/s)")
            seconds, complete, done = runyard_tune(folder, args.trials, inline=False)
            print(f"  runyard tune, 2 slots, a process per call: {seconds:.2f} s "
                  f"({args.trials / seconds:.1f} trials/s), "
                  f"{complete} trials and {done} executions recorded: {seconds / base:.1f}x optuna")
            seconds, complete, done = runyard_tune(folder, args.trials, inline=False, warm=True)
            print(f"  runyard tune --warm, 2 slots: {seconds:.2f} s ({args.trials / seconds:.1f} trials/s), "
                  f"{complete} trials and {done} executions recorded: {seconds / base:.1f}x optuna")
            seconds, complete, done = runyard_tune(folder, args.trials, inline=True)
            print(f"  runyard tune --executor inline, 1 slot: {seconds:.2f} s ({args.trials / seconds:.1f} trials/s), "
                  f"{complete} trials and {done} executions recorded: {seconds / base:.1f}x optuna")
        print(f"(b) warm start from {args.past:,} past runs")
        warm_start(folder, args.past, args.rdb)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
