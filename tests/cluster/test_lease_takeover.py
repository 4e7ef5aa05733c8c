"""A worker that lost its lease cannot overwrite the new owner's result (DESIGN §5: status changes are
compare-and-set; §10: at most one live execution per key).

End to end: worker A runs a step and is frozen (SIGSTOP) past its lease; worker B takes the execution
over, runs it again and records it; then A is thawed (SIGCONT). A's result, its metric points included
(its metrics file now also holds B's points), must not reach the store, which keeps B's record; A says so.

On SQLite both workers are on this machine, so B also kills the step A left running (it must not run on
beside the new attempt). On PostgreSQL A runs under a host name of its own, as on another machine: its
step runs on, finishes while A is frozen, and A, once thawed, tries to record it (done, with metrics)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from runyard.model import Status
from runyard.testing.processes import group_alive, wait_for

from .conftest import Cluster, expected_points, no_errors, require_other_host


def test_a_frozen_worker_cannot_overwrite_the_result_of_the_worker_that_took_over(cluster: Cluster) -> None:
    remote = cluster.url.startswith("postgresql")
    if remote:
        require_other_host()
    cluster.sweep(1)
    cluster.submit()
    hold = cluster.hold("work", 0, attempt=1)  # A's attempt waits after its first metric point
    first = cluster.start_worker("--lease", "2", "--jobs", "1", host="box-a" if remote else None)

    def a_running_work() -> str | None:
        assert first.poll() is None, cluster.outputs()
        found = [a for a in cluster.attempts() if a.event == "start" and a.step == "work"]
        if not found:
            return None
        with cluster.store() as store:
            (ex,) = store.executions("faults", keys=[found[0].key])
            # the step is recorded as started, and A has stored its first metric point
            if ex.pgid is None or not store.metric_points(ex.key):
                return None
        return found[0].key

    key = wait_for(a_running_work, timeout=30, what="worker A to run the work step")
    os.kill(first.pid, signal.SIGSTOP)
    with cluster.store() as store:
        held = store.execution(key)
    assert held.lease_expires is not None and held.lease_expires <= time.time() + 2  # A's lease, not a default
    try:
        second = cluster.start_worker("--lease", "2", "--jobs", "1")
        assert second.wait(60) == 0, cluster.outputs()
        with cluster.store() as store:
            taken = store.execution(key)
        assert taken.status == Status.DONE and taken.attempts == 2 and taken.worker_id != first_worker(cluster, key)
        assert held.pgid is not None
        if remote:  # A's step runs on: it reports its last points and exits while A is still frozen
            assert group_alive(held.pgid)
            hold.unlink()
            wait_for(lambda: any(a.event == "end" and a.key == key and a.attempt == 1 for a in cluster.attempts()),
                     timeout=30, what="A's step to finish")
        else:  # A's step was killed when B took it back (A is frozen: neither A nor its guardian did it)
            assert not group_alive(held.pgid)
            hold.unlink()
            assert not [a for a in cluster.attempts() if a.event == "end" and a.key == key and a.attempt == 1]
            assert "its process group on this host was killed" in cluster.output(second)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert first.wait(60) == 0, cluster.outputs()

    output = cluster.output(first)
    assert "lease was taken over" in output, output
    for proc in (first, second):
        no_errors(cluster.output(proc))
    facts = cluster.check_sweep(1)
    record = facts["records"][key]
    assert record.worker_id == taken.worker_id and record.attempts == 2
    assert record.ended == taken.ended  # B's finish stands: A changed nothing
    with cluster.store() as store:
        points = sorted((p.name, p.step, round(p.value, 6)) for p in store.metric_points(key))
    assert points == expected_points(0)  # B's three points, not A's on top of them
    meta = json.loads((Path(record.folder) / "meta.json").read_text(encoding="utf-8"))
    assert meta["worker"] == taken.worker_id and meta["attempt"] == 2 and meta["status"] == "done"


def first_worker(cluster: Cluster, key: str) -> str:
    (start,) = [a for a in cluster.attempts() if a.event == "start" and a.key == key and a.attempt == 1]
    return start.worker
