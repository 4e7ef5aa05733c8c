"""Workers on a shared PostgreSQL store: woken by LISTEN/NOTIFY, cancelled from another process."""

from __future__ import annotations

import pytest

from runyard.model import Status
from runyard.store import open_store
from runyard.testing.processes import wait_for

from .conftest import Project

pytestmark = pytest.mark.postgres

SPEC = """
experiment: shared
params: {x: 1, s: 0}
steps:
  train: python ROOT/rec.py train-{x} --sleep {s}
"""


def test_an_idle_worker_is_woken_by_a_submit(project: Project, pg_url: str) -> None:
    project.spec(SPEC.replace("ROOT", str(project.root)))
    # polling once every 10 minutes: only the notification can make it start the step in time
    worker = project.start("worker", "--poll", "600", RUNYARD_STORE=pg_url)
    wait_for(lambda: "Ctrl-C to stop" in project.output_of(worker), what="the worker to start")
    assert project.run("submit", "x=1,2", RUNYARD_STORE=pg_url).code == 0
    wait_for(lambda: len(project.ends()) == 2, timeout=60, what="the woken worker to run both steps")
    status = project.run("status", RUNYARD_STORE=pg_url)
    assert "queue: 2 done" in status.stdout and "host" in status.stdout
    assert project.run("cancel", "shared", RUNYARD_STORE=pg_url).stdout.startswith("experiment shared: nothing")
    worker.terminate()
    assert worker.wait(30) == 0


def test_cancel_reaches_a_worker_through_the_shared_store(project: Project, pg_url: str) -> None:
    project.spec(SPEC.replace("ROOT", str(project.root)))
    assert project.run("submit", "s=120", RUNYARD_STORE=pg_url).code == 0
    worker = project.start("worker", "--burst", RUNYARD_STORE=pg_url)
    wait_for(lambda: project.starts("train-1"), what="the step to start")
    out = project.run("cancel", "shared", RUNYARD_STORE=pg_url)
    assert "1 running on" in out.stdout
    assert worker.wait(60) == 0, project.output_of(worker)
    assert "cancelled shared train" in project.output_of(worker)
    with open_store(pg_url) as store:
        assert store.counts("shared")[Status.CANCELLED] == 1
    assert project.ends() == []


CALL_STEPS = '''
def prep(size=3):
    return list(range(size))


def train(prep, lr=0.1, seed=1):
    return {"loss": lr * len(prep) + seed}


def report(train, prep):
    return {"summary": "%d rows, loss %.2f" % (len(prep), train["loss"])}
'''

CALL_SPEC = """
experiment: pycalls
steps:
  prep: {call: calls:prep}
  train: {call: calls:train}
  report: {call: calls:report}
sweeps:
  grid: {lr: [0.1, 0.2], seed: [1, 2]}
"""


def test_python_steps_through_a_postgresql_queue(project: Project, pg_url: str) -> None:
    project.file("calls.py", CALL_STEPS)
    project.spec(CALL_SPEC)
    assert project.run("submit", RUNYARD_STORE=pg_url).code == 0
    worker = project.run("worker", "--burst", "-j", "2", RUNYARD_STORE=pg_url)
    assert worker.code == 0, worker
    assert "9 done, 0 failed" in worker.stdout, "one shared prep, 4 trains, 4 reports"
    import runyard

    with runyard.open(pg_url) as yard:
        frame = yard.runs("pycalls").df
        assert sorted(frame["loss"].tolist()) == pytest.approx([1.3, 1.6, 2.3, 2.6])
        run = frame.sort_values("loss").iloc[-1]
    assert runyard.load(run["name"], "report", home=pg_url) == {"summary": "3 rows, loss 2.60"}
    assert runyard.load(run["name"], "prep", home=pg_url) == [0, 1, 2]
