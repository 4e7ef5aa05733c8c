"""A step's process group never outlives both its worker and the guardian: kill -9 of the two at once
leaves no step process behind, a grandchild started in the background included."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from runyard.model import Status
from runyard.testing.faults import Yard, wait_for
from runyard.testing.processes import group_alive, process_running

# the step's bash runs a second bash (not exec'd: `; true`) that starts a sleep in the background
SPEC = """
    experiment: orphans
    steps:
      a: bash -c 'sleep 600 & echo $! > grandchild.pid; wait'; true
    """


def _guardian_of(worker: int) -> int:
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_bytes().rsplit(b")", 1)[1].split()
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == worker and b"_guardian_main" in cmdline:
            return int(name)
    raise AssertionError(f"no guardian process under worker {worker}")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
def test_killing_worker_and_guardian_together_leaves_no_step_process(tmp_path: Path) -> None:
    yard = Yard(tmp_path, tmp_path / "home")
    yard.spec(SPEC)
    assert yard.run("submit").code == 0
    worker = yard.start("worker", "--burst", "--jobs", "1")
    try:
        def running() -> tuple[int, int] | None:
            path = tmp_path / "grandchild.pid"
            if not path.exists() or not path.read_text().strip():
                return None
            (record,) = yard.executions("orphans")
            if record.status != Status.RUNNING or record.pgid is None:
                return None
            return record.pgid, int(path.read_text())

        pgid, grandchild = wait_for(running, what="the step and its grandchild to run")
        guardian = _guardian_of(worker.pid)
        assert group_alive(pgid) and process_running(grandchild)
        os.kill(guardian, signal.SIGKILL)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
        wait_for(lambda: not process_running(guardian), what="the guardian to die")
        wait_for(lambda: not group_alive(pgid) and not process_running(grandchild), timeout=10,
                 what="the step's process group and its grandchild to die")
    finally:
        yard.stop_all()
        path = tmp_path / "grandchild.pid"
        text = path.read_text().strip() if path.exists() else ""
        if text and process_running(int(text)):  # the test failed: leave nothing behind
            os.kill(int(text), signal.SIGKILL)
