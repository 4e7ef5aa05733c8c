"""Signals are answered while a worker waits for its store: SIGTERM, SIGHUP and Ctrl-C (twice) end a
worker whose PostgreSQL server is down, or whose SQLite store another process holds locked, within a
bound, with exit code 130, and with its steps' process groups gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runyard.testing.outage import Sweep, group_gone, sweep_on
from runyard.testing.pgserver import PgServer, own_server_for_pytest
from runyard.testing.processes import wait_for

HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()  # until the test closes our stdin
"""


@pytest.fixture(scope="module")
def own_server() -> Iterator[PgServer]:
    """A server of this module alone: each test stops it and starts it again."""
    with own_server_for_pytest() as server:
        yield server


def stop(sweep: Sweep, proc: subprocess.Popen[bytes], how: str) -> None:
    if how == "SIGINT twice":  # Ctrl-C once lets running steps finish; twice terminates them
        os.kill(proc.pid, signal.SIGINT)
        # the second only once the first is taken (two signals sent at once may arrive as one)
        wait_for(lambda: "stopping: nothing new starts" in sweep.output(proc), 30, "the first Ctrl-C to be taken")
        os.kill(proc.pid, signal.SIGINT)
    else:
        os.kill(proc.pid, getattr(signal, how))


def check_ended(sweep: Sweep, proc: subprocess.Popen[bytes]) -> None:
    code = sweep.wait(proc, 60)
    output = sweep.output(proc)
    assert code == 130, output
    assert "Traceback" not in output, output
    groups = sweep.step_groups()
    assert groups
    wait_for(lambda: all(group_gone(g) for g in groups), 30, "the steps' process groups to be gone")
    assert sweep.ended() == []  # terminated, not finished


@pytest.mark.postgres
@pytest.mark.parametrize("how", ["SIGTERM", "SIGHUP", "SIGINT twice"])
def test_a_signal_ends_a_worker_waiting_for_postgresql(own_server: PgServer, tmp_path: Path, how: str) -> None:
    with sweep_on(tmp_path / "proj", own_server.create_database()) as sweep:
        sweep.write(4)
        assert sweep.runyard("submit").returncode == 0
        proc = sweep.start("worker", "--jobs", "2")  # long-lived: it would wait for work forever
        wait_for(lambda: len(sweep.started()) == 2, 60, "2 steps to start")
        own_server.halt("fast")
        try:
            wait_for(lambda: "store unreachable:" in sweep.output(proc), 60, "the worker to meet the outage")
            stop(sweep, proc, how)
            check_ended(sweep, proc)
            assert "the results of 2 steps are kept in their meta.json" in sweep.output(proc)
        finally:
            own_server.start_again()


@pytest.mark.parametrize("how", ["SIGTERM", "SIGHUP"])
def test_a_signal_ends_a_worker_waiting_for_a_sqlite_lock(tmp_path: Path, how: str) -> None:
    db = tmp_path / "proj" / "home" / "runyard.db"
    with sweep_on(tmp_path / "proj", f"sqlite:///{db}") as sweep:
        sweep.write(4)
        assert sweep.runyard("submit").returncode == 0
        proc = sweep.start("worker", "--jobs", "2", "--lease", "3")  # renews its leases every second
        wait_for(lambda: len(sweep.started()) == 2, 60, "2 steps to start")
        holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE)
        try:
            assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
            wait_for(lambda: "store unreachable:" in sweep.output(proc), 60, "the worker to meet the lock")
            assert "another process holds its lock" in sweep.output(proc)
            stop(sweep, proc, how)
            check_ended(sweep, proc)
            # reads go on under another process's lock: only a write tells that the store is back
            output = sweep.output(proc)
            assert output.count("store unreachable:") == 1 and "reachable again" not in output, output
        finally:
            assert holder.stdin is not None
            holder.stdin.close()
            holder.wait(30)
