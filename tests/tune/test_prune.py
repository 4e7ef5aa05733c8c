"""Pruning a shell step from its live log: a step that logs a falling score once per 0.2 s is stopped by
the median pruner (its whole process group, SIGTERM then SIGKILL), its trial recorded ``pruned`` with
the points it logged, and the step itself sees it through ``runyard.should_prune()`` (this one ignores
SIGTERM, so SIGKILL ends it after the grace period)."""

from __future__ import annotations

import os

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
