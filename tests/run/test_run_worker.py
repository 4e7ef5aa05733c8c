"""The worker in-process (``Worker.run(burst=True)`` over a real SQLite store under tmp_path): event-driven
scheduling (no poll-interval gaps), and taking over the executions of a worker that stopped heartbeating."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

from runyard.execute.events import Event
from runyard.execute.slots import SlotPool
from runyard.execute.worker import Worker
from runyard.model import WorkerInfo
from runyard.store import Store
from runyard.store.base import ExecRecord
from runyard.testing.processes import wait_for
from runyard.testing.workers import drain, submit_spec

from .conftest import Project


def submit(project: Project, text: str) -> Store:
    return submit_spec(project.spec(text), project.home)


def test_one_slot_runs_twenty_quick_steps_back_to_back(project: Project) -> None:
    values = ", ".join(str(i) for i in range(20))
    store = submit(project, f"""
        experiment: quick
        params: {{i: 0}}
        steps:
          tick: true {{i}}
        sweeps:
          all: {{i: [{values}]}}
        """)
    events: list[Event] = []
    worker = Worker(store, SlotPool([], jobs=1), experiment="quick", poll_interval=0.5, on_event=events.append)
    try:
        took = drain(worker, timeout=30)
        # event-driven: a freed slot starts the next step at once, not at the next 0.5 s poll (20 × 0.5 = 10 s)
        assert took < 5, took
        assert worker.result.done == 20 and worker.result.exit_code == 0
        assert {str(ex.status) for ex in store.executions("quick")} == {"done"}
        kinds = [e.kind for e in events]
        assert kinds.count("started") == 20 and kinds.count("finished") == 20
        running = 0
        for kind in kinds:  # one slot: never two started without a finish between
            running += {"started": 1, "finished": -1}.get(kind, 0)
            assert running <= 1
    finally:
        store.close()


def test_one_slot_through_the_command_line_is_not_paced_by_the_poll_interval(project: Project) -> None:
    values = ", ".join(str(i) for i in range(20))
    project.spec(f"""
        experiment: quick
        params: {{i: 0}}
        steps:
          tick: true {{i}}
        sweeps:
          all: {{i: [{values}]}}
        """)
    result = project.run("run", "--jobs", "1")
    assert result.code == 0, result
    # paced by the 0.5 s poll, 20 steps one after the other could not end in less than 20 × 0.5 = 10 s
    assert result.seconds < 20 * 0.5, result


def test_a_worker_takes_over_what_a_silent_worker_held_once_its_lease_expires(project: Project) -> None:
    store = submit(project, """
        experiment: takeover
        steps:
          first:
            run: python rec.py first
            retries: 1
          second: python rec.py second
        """)
    try:
        # a worker that claims `first`, then never heartbeats again (a hung process on this host: its pid lives)
        store.register_worker(WorkerInfo(id="ghost", host=socket.gethostname(), pid=os.getpid(), started=time.time()),
                              lease_seconds=1)
        (held,) = store.claim("ghost", lambda record: True, limit=1, experiment="takeover", lease_seconds=1)
        assert held.step == "first"
        events: list[Event] = []
        worker = Worker(store, SlotPool([], jobs=1), experiment="takeover", lease_seconds=1.5,
                        on_event=events.append)
        took = drain(worker, timeout=20)
        assert took < 10
        by_step = {ex.step: ex for ex in store.executions("takeover")}
        assert str(by_step["first"].status) == "done" and by_step["first"].attempts == 2
        assert str(by_step["second"].status) == "done"
        assert any(e.kind == "recovered" for e in events)
        assert Path(project.rec).exists() and [r["label"] for r in project.ends()] == ["first", "second"]
    finally:
        store.close()


def test_a_launched_step_holds_the_workers_lease_not_a_default_one(project: Project) -> None:
    """A worker with a short lease records that lease when it launches a step, so that if it dies at once its
    step is taken back after that lease, not after a default one."""
    store = submit(project, """
        experiment: short-lease
        steps:
          slow: python rec.py slow --sleep 3
        """)
    try:
        worker = Worker(store, SlotPool([], jobs=1), experiment="short-lease", lease_seconds=2)
        thread = threading.Thread(target=worker.run, kwargs={"burst": True}, daemon=True)
        thread.start()

        def launched() -> ExecRecord | None:
            (ex,) = store.executions("short-lease")
            return ex if ex.pgid is not None else None  # the launch is recorded

        ex = wait_for(launched, timeout=20, what="the step to be launched")
        assert ex.lease_expires is not None and ex.lease_expires <= time.time() + 2  # not a 30 s default
        thread.join(30)
        assert not thread.is_alive() and worker.result.done == 1
    finally:
        store.close()
