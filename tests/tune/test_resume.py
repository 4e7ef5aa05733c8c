"""A ``runyard tune`` killed with ``kill -9`` mid-study: the next ``runyard tune`` counts the finished
trials, requeues the running ones under their own numbers and params, and completes the requested
count, nothing lost or run twice."""

from __future__ import annotations

import os
import signal

from runyard.testing.processes import complete_lines, group_alive, wait_for

from .conftest import Project

GATE_PY = '''
import os, sys, time

x = sys.argv[1]
fd = os.open(os.environ["EVIDENCE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
os.write(fd, f"start {x} {os.getpgrp()}\\n".encode())
os.close(fd)
mine = f"start {x} {os.getpgrp()}"
with open(os.environ["EVIDENCE"]) as seen:
    position = [line.rstrip("\\n") for line in seen].index(mine) + 1  # this step's place among the starts
while position > 3 and not os.path.exists(os.environ["GATE"]):  # the 4th start on waits for the gate
    time.sleep(0.05)
print(f"value={x}")
'''

SPEC = r'''
experiment: resume
steps:
  f: python3 gate.py {x}
metrics:
  value: {step: f, regex: 'value=(\S+)'}
tune:
  params: {x: {uniform: [0, 1]}}
  objective: value
  trials: 6
  seed: 2
  pruner: none
'''


def test_kill_9_mid_tune_then_tune_completes_the_count(project: Project) -> None:
    project.write("gate.py", GATE_PY)
    project.write("runyard.yaml", SPEC)
    evidence, gate = project.folder / "evidence.txt", project.folder / "gate"
    env = {"EVIDENCE": str(evidence), "GATE": str(gate)}
    tune = project.popen("tune", "--jobs", "2", **env)
    try:
        wait_for(lambda: len(complete_lines(evidence)) >= 5 and project.trials("resume")
                 and sum(t.state == "complete" for t in project.trials("resume")) == 3,
                 timeout=120, what="three trials done and two waiting at the gate")
    finally:
        os.kill(tune.pid, signal.SIGKILL)
        tune.communicate()
    before = project.trials("resume")
    assert sorted(t.state for t in before) == ["complete"] * 3 + ["running"] * 2
    killed = {t.number for t in before if t.state == "running"}
    blocked = [int(line.split()[2]) for line in complete_lines(evidence)[3:]]
    wait_for(lambda: not any(group_alive(g) for g in blocked), what="the killed tune's steps to be gone")

    gate.write_text("open\n")
    again = project.cli("tune", "--jobs", "2", **env)
    assert again.code == 0, again
    after = project.trials("resume")
    assert [t.number for t in after] == list(range(6))
    assert all(t.state == "complete" for t in after), after
    assert [(t.run_id, dict(t.params)) for t in after[:5]] == [(t.run_id, dict(t.params)) for t in before]
    with project.store() as store:
        runs = {r.id: r for r in store.runs("resume")}
        attempts = {t.number: store.execution(dict(runs[t.run_id].steps)["f"]).attempts for t in after}
    assert attempts == {n: 2 if n in killed else 1 for n in range(6)}  # the two killed trials ran again, once
    starts = [line.split()[1] for line in complete_lines(evidence)]
    assert len(starts) == 8 and len(set(starts)) == 6
