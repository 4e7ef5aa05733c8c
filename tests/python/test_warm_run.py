"""``runyard run --warm``: call steps in warm slot processes, each call a recorded execution with its own log,
metrics and result; a failing call recorded failed with its traceback; Ctrl-C stops a running call."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from runyard.layout import ExecutionPaths
from runyard.testing.processes import process_running, wait_for

from .conftest import Project, compare_json

STEPS = '''
import os

with open("imports.log", "a") as f:  # the spec folder: the workdir of every step here
    f.write(f"{os.getpid()}\\n")


def square(x=0):
    print(f"square of {x}", flush=True)
    if x == 3:
        raise ValueError(f"no square for {x}")
    return {"y": x * x, "pid": os.getpid()}


def wait(ready="ready"):
    with open(ready + ".part", "w") as f:
        f.write(str(os.getpid()))
    os.replace(ready + ".part", ready)
    import time
    while True:
        time.sleep(0.05)
'''


def test_warm_calls_are_recorded_one_by_one(project: Project) -> None:
    project.file("steps.py", STEPS)
    project.spec("""
        experiment: warm
        params: {x: 0}
        steps:
          square: {call: steps:square}
        sweeps:
          xs: {x: [0, 1, 2, 3, 4, 5, 6, 7]}
        """)
    done = project.run("run", "--warm", "--jobs", "2")
    assert done.code == 1, done  # x=3 failed
    imported = (project.root / "imports.log").read_text().split()  # by `runyard run` (planning) and the slots
    rows = {row["x"]: row for row in compare_json(project, "--cols", "x,y,pid")}
    assert {x: row["y"] for x, row in rows.items() if x != 3} == {x: x * x for x in (0, 1, 2, 4, 5, 6, 7)}
    pids = {str(int(row["pid"])) for x, row in rows.items() if x != 3}
    assert 1 <= len(pids) <= 2  # 7 calls in at most one process per slot
    assert all(imported.count(pid) == 1 for pid in pids)  # each imported the module once
    executions = {ex.params["x"]: ex for ex in project.executions("warm")}
    assert sorted(executions) == list(range(8))
    for x, ex in executions.items():
        log = Path(ExecutionPaths(ex.folder).log).read_text()
        assert f"square of {x}\n" in log and log.count("square of") == 1  # its own output only
        if x == 3:
            assert (str(ex.status), ex.exit_code) == ("failed", 1)
            assert "Traceback" in log and "ValueError: no square for 3" in log
        else:
            assert (str(ex.status), ex.exit_code) == ("done", 0)


def test_ctrl_c_twice_stops_a_warm_call(project: Project) -> None:
    project.file("steps.py", STEPS)
    project.spec("""
        experiment: stop
        steps:
          wait: {call: steps:wait}
        """)
    proc = project.start("run", "--warm", "--grace", "5")
    ready = project.root / "ready"
    wait_for(ready.exists, what="the call to start")
    pid = int(ready.read_text())
    for said in ("waiting for 1 running step to finish", "terminating 1 running step"):
        os.kill(proc.pid, signal.SIGINT)
        wait_for(lambda said=said: said in project.output_of(proc) or proc.poll() is not None, what=said)
    assert proc.wait(30) == 130, project.output_of(proc)
    wait_for(lambda: not process_running(pid), what="the warm process to be gone")
    (ex,) = project.executions("stop")
    assert str(ex.status) == "interrupted" and ex.exit_code == 128 + signal.SIGTERM
    meta = json.loads(Path(ExecutionPaths(ex.folder).meta).read_text())
    assert meta["status"] == "interrupted"


def test_inline_and_warm_do_not_mix(project: Project) -> None:
    project.file("steps.py", STEPS)
    project.spec("""
        experiment: both
        steps:
          square: {call: steps:square}
        """)
    result = project.cli("run", "--inline", "--warm")
    assert result.exit_code == 2
    assert "--inline and --warm do not mix" in result.output and "Traceback" not in result.output
