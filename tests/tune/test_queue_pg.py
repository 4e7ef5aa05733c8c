"""``runyard submit --tune`` on PostgreSQL, then two ``runyard worker`` processes take the study's trials
from the store: every trial number once, no params asked twice, both workers at work, every trial
told. The store hands out the numbers (one transaction holding the study)."""

from __future__ import annotations

import os
import signal

from runyard.testing.processes import complete_lines

from .conftest import Project

STEP_PY = '''
import os, sys, time

x = sys.argv[1]
fd = os.open(os.environ["EVIDENCE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
os.write(fd, f"start {x} {os.environ['RUNYARD_WORKER']}\\n".encode())
os.close(fd)
deadline = time.monotonic() + 120  # a bound on a hang: the test fails then, it does not pass
while time.monotonic() < deadline:  # the first steps wait until both workers have started one
    with open(os.environ["EVIDENCE"]) as seen:
        if len({line.split()[2] for line in seen if line.endswith("\\n")}) >= 2:
            break
    time.sleep(0.05)
print(f"value={x}")
'''

SPEC = r'''
experiment: queued
steps:
  f: python3 step.py {x}
metrics:
  value: {step: f, regex: 'value=(\S+)'}
tune:
  params: {x: {int: [0, 1000]}}
  objective: {metric: value, direction: maximize}
  trials: 12
  seed: 5
  pruner: none
'''


def test_two_workers_on_postgresql_tune_one_study_without_duplicates(project: Project, pg_url: str) -> None:
    project.store_url = pg_url
    project.write("step.py", STEP_PY)
    project.write("runyard.yaml", SPEC)
    evidence = project.folder / "evidence.txt"
    submitted = project.cli("submit", "--tune")
    assert submitted.code == 0, submitted
    assert "up to 12 trials queued" in submitted.stdout
    workers = [project.popen("worker", "--burst", "--gpus", "none", "--jobs", "2", EVIDENCE=str(evidence))
               for _ in range(2)]
    try:
        outputs = [w.communicate(timeout=180) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:  # a hang: stop what this test started, by its pid
                os.killpg(w.pid, signal.SIGKILL)
                w.communicate()
    assert [w.returncode for w in workers] == [0, 0], outputs
    trials = project.trials("queued")
    assert [t.number for t in trials] == list(range(12))
    assert all(t.state == "complete" for t in trials), trials
    assert len({t.run_id for t in trials}) == 12  # no two trials asked for the same params
    assert len({t.worker for t in trials}) == 2
    starts = [line.split() for line in complete_lines(evidence)]
    assert len(starts) == 12 and len({x for _, x, _ in starts}) == 12  # each trial ran once
    with project.store() as store:
        assert all(e.attempts == 1 for e in store.executions("queued"))
