"""Which running executions readers show as ``lost`` (execute/lost.py), on records built by hand."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

from runyard.execute.lost import LOST, lost_among, shown_run_status, shown_status
from runyard.model import Status
from runyard.store.base import ExecRecord, RunRecord, WorkerRecord
from runyard.testing.store_helpers import ex

NOW = 1_000_000.0


def _running(tmp_path: Path, name: str, worker: str, lease: float = NOW + 30) -> ExecRecord:
    base = ex(tmp_path, name)
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)}
    return ExecRecord(**fields, status=Status.RUNNING, worker_id=worker, lease_expires=lease)


def _worker(worker_id: str, host: str, pid: int, started: float) -> WorkerRecord:
    return WorkerRecord(worker_id, host, pid, "cpu", started, NOW, NOW + 30)


def test_lost_when_the_lease_expired_the_worker_row_is_gone_or_its_local_pid_is_dead(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    me = time.time()
    records = [
        _running(tmp_path, "alive", "w-alive"),
        _running(tmp_path, "expired", "w-alive", lease=NOW - 1),
        _running(tmp_path, "unregistered", "w-gone"),
        _running(tmp_path, "dead-pid", "w-dead"),
        _running(tmp_path, "elsewhere", "w-remote"),
    ]
    workers = [
        _worker("w-alive", "here", os.getpid(), me),
        _worker("w-dead", "here", dead.pid, me),
        _worker("w-remote", "there", dead.pid, me),  # another host: its pid says nothing here
    ]
    lost = lost_among(records, workers, host="here", now=NOW)
    names = {r.key: r.step for r in records}
    assert sorted(names[k] for k in lost) == ["dead-pid", "expired", "unregistered"]


def test_shown_statuses(tmp_path: Path) -> None:
    a, b = _running(tmp_path, "a", "w"), _running(tmp_path, "b", "w")
    run = RunRecord("r", "exp", "r", {}, "/r", (("a", a.key), ("b", b.key)), NOW,
                    statuses=(Status.RUNNING, Status.DONE))
    assert shown_status(Status.RUNNING, a.key, {a.key}) == LOST
    assert shown_status(Status.DONE, a.key, {a.key}) == "done"
    assert shown_run_status(run, {a.key}) == LOST
    assert shown_run_status(run, set()) == "running"
    both = dataclasses.replace(run, statuses=(Status.RUNNING, Status.RUNNING))
    assert shown_run_status(both, {a.key}) == "running"  # b still runs
