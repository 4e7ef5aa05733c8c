"""Pruning a shell step from its live log: a step that logs a falling score once per 0.2 s is stopped by
the median pruner (its whole process group, SIGTERM then SIGKILL), its trial recorded ``pruned`` with
the points it logged, and the step itself sees it through ``runyard.should_prune()`` (this one ignores
SIGTERM, so SIGKILL ends it after the grace period)."""

from __future__ import annotations

import os
from pathlib import Path

from runyard.model import Status
from runyard.testing.processes import group_alive, process_running, wait_for

from .conftest import Project

SCORE_PY = '''
import os, signal, sys, time

import runyard

if os.environ["TUNE_MODE"] == "good":  # a quick trial whose score rises: the pruner's reference at every step
    print("\\n".join(f"score={100 + i}" for i in range(3000)), flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # TERM-proof: it is killed once the grace period is over
with open(os.environ["PID_FILE"], "w") as out:
    out.write(f"{os.getpid()} {os.getpgrp()}\\n")
for i in range(3000):  # falls for ten minutes unless pruned
    print(f"score={10 - i}", flush=True)
    if runyard.should_prune():
        with open(os.environ["PID_FILE"] + ".saw", "w") as out:
            out.write("pruned\\n")
    time.sleep(0.2)
'''

SPEC = r'''
experiment: prune
steps:
  train: python3 -u score.py --x {x}
metrics:
  score: {step: train, regex: 'score=(\S+)'}
tune:
  params: {x: {uniform: [0, 1]}}
  objective: {metric: score, direction: maximize}
  trials: 5
  seed: 1
  pruner: median
'''


def test_a_falling_shell_step_is_pruned_and_its_process_is_gone(project: Project) -> None:
    project.write("score.py", SCORE_PY)
    project.write("runyard.yaml", SPEC)
    pid_file = str(project.folder / "bad.pid")
    good = project.cli("tune", "--jobs", "2", TUNE_MODE="good", PID_FILE=pid_file)
    assert good.code == 0, good
    assert [t.state for t in project.trials("prune")] == ["complete"] * 5

    bad = project.cli("tune", "--trials", "1", "--grace", "5", TUNE_MODE="bad", PID_FILE=pid_file)
    assert bad.code == 0, bad
    trials = project.trials("prune")
    assert [t.state for t in trials] == ["complete"] * 5 + ["pruned"]
    pruned = trials[-1]
    assert pruned.intermediate and max(pruned.intermediate.values()) <= 10  # the partial metrics it logged
    with open(pid_file) as pids:
        pid, pgid = map(int, pids.read().split())
    wait_for(lambda: not process_running(pid) and not group_alive(pgid), what="the pruned step's group to be gone")
    with project.store() as store:
        run = store.run(pruned.run_id, "prune")
        record = store.execution(dict(run.steps)["train"])
        assert record.status == Status.FAILED and record.error == "pruned"
        assert [p.value for p in store.metric_points(record.key, "score")][:1] == [10.0]
    assert os.path.exists(os.path.join(record.folder, "prune"))
    assert "trial    5 pruned" in bad.stdout
    assert os.path.exists(pid_file + ".saw")  # runyard.should_prune() told the step, during its grace period


def test_every_pruner_judges_from_a_study_rebuilt_from_the_records(tmp_path: Path) -> None:
    """The marks a pruner keeps on the trials it judged (successive halving's rungs) go to the store with
    each trial, so a study rebuilt elsewhere prunes like the one that ran them."""
    from dataclasses import replace

    from runyard.app.tuning_engine import Engine
    from runyard.spec.load import load_spec

    (tmp_path / "runyard.yaml").write_text(SPEC)
    tune = load_spec(str(tmp_path / "runyard.yaml")).tune
    assert tune is not None
    for pruner in ("median", "hyperband", "successive_halving"):
        running = Engine(replace(tune, pruner=pruner), {})
        rebuilt = Engine(replace(tune, pruner=pruner), {})
        for n in range(12):  # good trials, judged step by step while they ran, then recorded
            steps = {i: 100.0 + i + n for i in range(30)}
            for k in range(1, 31):
                assert not running.should_prune(f"k{n}", {"x": n / 12}, dict(list(steps.items())[:k]))
            attrs = running.close(f"k{n}")
            for engine in (running, rebuilt):  # the one that ran them hears of them like any other
                engine.add_recorded(n, {"x": n / 12}, "complete", [130.0 + n], steps, attrs)
        assert rebuilt.should_prune("bad", {"x": 0.5}, {i: 1.0 for i in range(9)}), pruner
        assert not rebuilt.should_prune("good", {"x": 0.5}, {i: 200.0 for i in range(9)}), pruner
