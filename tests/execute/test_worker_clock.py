"""The worker's clock: a step's timeout and the grace period after it pass when the clock says so, not by
waiting (a FakeClock the test advances; a real SQLite store and real processes)."""

from __future__ import annotations

import threading
from pathlib import Path

from runyard.execute.slots import SlotPool
from runyard.execute.worker import Worker
from runyard.model import Status
from runyard.testing.processes import group_alive, wait_for
from runyard.testing.store_helpers import FakeClock
from runyard.testing.workers import submit_spec


def test_timeout_and_grace_period_follow_the_worker_clock(tmp_path: Path) -> None:
    spec = tmp_path / "project" / "runyard.yaml"
    spec.parent.mkdir()
    got_term, started = tmp_path / "got-term", tmp_path / "started"
    spec.write_text(f"""experiment: clocked
steps:
  slow:
    run: trap 'touch {got_term}' TERM; touch {started}; while true; do sleep 0.05; done
    timeout: 1h
""")
    store = submit_spec(spec, tmp_path / "home")
    clock = FakeClock(1000.0)
    worker = Worker(store, SlotPool([], jobs=1), experiment="clocked", grace=60.0, clock=clock)
    thread = threading.Thread(target=worker.run, kwargs={"burst": True}, daemon=True)
    thread.start()
    try:
        def running() -> int | None:
            (record,) = store.executions("clocked")
            return record.pgid if started.exists() and record.status == Status.RUNNING else None

        pgid = wait_for(running, what="the step to run")
        clock.advance(3600.5)  # past the timeout: SIGTERM, which the step traps
        wait_for(got_term.exists, what="the step to get SIGTERM")
        assert group_alive(pgid) and store.executions("clocked")[0].status == Status.RUNNING
        clock.advance(60.0)  # the grace period is over: SIGKILL
        wait_for(lambda: store.executions("clocked")[0].status == Status.FAILED, what="the step to be recorded")
        (record,) = store.executions("clocked")
        assert record.error == "timed out after 3600 s" and record.exit_code == 137
        assert not group_alive(pgid)
        thread.join(30)
        assert not thread.is_alive() and worker.result.exit_code == 1
    finally:
        if thread.is_alive():
            worker.request_stop()
            worker.request_stop()
            thread.join(30)
        store.close()
