"""A lost worker (kill -9, frozen past its lease) is no failure of the step: the step is requeued whatever
``retries:`` says and another worker runs it to done. A ``runyard run`` whose attempt was taken over exits
non-zero and says so."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from runyard.model import Status
from runyard.store.base import RunRecord
from runyard.testing.faults import Yard, wait_for
from runyard.testing.processes import group_alive

# the first attempt writes its attempt number and waits for a file that never comes; later ones end at once
SPEC = """
    experiment: lost
    steps:
      a:
        run: >-
          echo "$RUNYARD_ATTEMPT" >> attempts.txt &&
          if [ "$RUNYARD_ATTEMPT" = 1 ]; then while [ ! -e go ]; do sleep 0.05; done; fi
        retries: 0
    """


@pytest.fixture
def yard(tmp_path: Path) -> Iterator[Yard]:
    yard = Yard(tmp_path, tmp_path / "home")
    yard.spec(SPEC)
    try:
        yield yard
    finally:
        yard.stop_all()


def _first_attempt_running(yard: Yard) -> int | None:
    """The process group of attempt 1, once it runs and the store knows it."""
    path = yard.root / "attempts.txt"
    if not path.exists() or path.read_text().split() != ["1"]:
        return None
    (record,) = yard.executions("lost")
    return record.pgid if record.status == Status.RUNNING else None


def test_a_worker_killed_mid_step_requeues_a_step_without_retries(yard: Yard) -> None:
    assert yard.run("submit").code == 0
    first = yard.start("worker", "--burst", "--jobs", "1", "--lease", "2")
    pgid = wait_for(lambda: _first_attempt_running(yard), what="attempt 1 to run")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    wait_for(lambda: not group_alive(pgid), what="the guardian to kill the orphaned step")
    (left,) = yard.executions("lost")
    assert left.status == Status.RUNNING  # as the kill left it: nobody took it back yet

    second = yard.run("worker", "--burst", "--jobs", "1", "--lease", "2")
    assert second.code == 0, second
    (record,) = yard.executions("lost")
    assert (record.status, record.attempts, record.lost, record.error) == (Status.DONE, 2, 1, None)
    assert (yard.root / "attempts.txt").read_text().split() == ["1", "2"]
    assert "failed" not in second.output.replace("0 failed", ""), second


def test_a_run_whose_attempt_was_taken_over_exits_non_zero(yard: Yard) -> None:
    run = yard.start("run", "--lease", "2", "--jobs", "1")
    pgid = wait_for(lambda: _first_attempt_running(yard), what="attempt 1 to run")
    os.kill(run.pid, signal.SIGSTOP)  # frozen past its lease
    try:
        other = yard.run("worker", "--burst", "--jobs", "1", "--lease", "2")
        assert other.code == 0, other
        assert not group_alive(pgid)  # the frozen worker's attempt was killed before the new one ran
        (record,) = yard.executions("lost")
        assert (record.status, record.attempts, record.lost) == (Status.DONE, 2, 1)
    finally:
        os.kill(run.pid, signal.SIGCONT)
    assert run.wait(60) == 1, yard.output_of(run)
    output = yard.output_of(run)
    assert "lost 1 step execution" in output and "Traceback" not in output, output
    (record,) = yard.executions("lost")
    assert record.status == Status.DONE and record.attempts == 2  # the thawed run recorded nothing over it


def test_readers_show_the_steps_of_a_killed_run_as_lost_at_once_writing_nothing(yard: Yard) -> None:
    run = yard.start("run", "--jobs", "1")
    wait_for(lambda: _first_attempt_running(yard), what="attempt 1 to run")
    os.kill(run.pid, signal.SIGKILL)
    run.wait(10)
    (before,) = yard.executions("lost")
    assert before.status == Status.RUNNING

    listing = yard.run("ls", "lost")
    assert listing.code == 0, listing
    (row,) = [line for line in listing.stdout.splitlines() if "a:" in line]
    assert " lost " in row and "a:lost" in row and "running" not in row, listing
    assert '"status": "lost"' in yard.run("ls", "lost", "--json").stdout
    assert "1 lost" in yard.run("ls").stdout
    (record,) = _runs(yard)
    shown = yard.run("show", record.id[:12])
    assert shown.code == 0, shown
    assert "running" not in shown.stdout and "a " in shown.stdout and " lost" in shown.stdout, shown
    assert "is gone" in shown.stdout, shown
    (after,) = yard.executions("lost")
    assert after == before  # readers wrote nothing

    status = yard.run("status")  # takes back what a dead worker held, as any worker would
    assert status.code == 0 and "lost: its worker" in status.stderr, status
    (taken,) = yard.executions("lost")
    assert (taken.status, taken.lost) == (Status.READY, 1)


def _runs(yard: Yard) -> list[RunRecord]:
    with yard.store() as store:
        return store.runs("lost")
