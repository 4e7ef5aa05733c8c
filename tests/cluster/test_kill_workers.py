"""Workers killed with SIGKILL at random moments (DESIGN §10: nothing lost, no stale state, at most one live
execution per key): three `runyard worker` processes pull a 300-execution sweep while one of them is killed
again and again (each time while it runs steps) and restarted. Every execution ends done, recorded once (the
record is an attempt that completed, the metric points are there once each), none is stuck running, no run
is lost, and no two workers both recorded one execution.

On SQLite every worker is on this machine: the others notice a killed one by its pid, at once. On
PostgreSQL each incarnation of the killed worker runs under a host name of its own, as if on another
machine: what it held comes back only when its lease (3 s) expires."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
from collections import Counter

from runyard.testing.processes import wait_for

from .conftest import Attempt, Cluster, no_errors, require_other_host

RUNS = 150  # × 2 steps = 300 executions
KILLS = 5
SEED = 20261126
WORKER = ("--jobs", "2", "--lease", "3")


def test_a_worker_killed_again_and_again_loses_nothing_and_records_nothing_twice(cluster: Cluster) -> None:
    cluster.sweep(RUNS)
    for i in range(0, RUNS, 10):
        cluster.slow(0.4, "prep", i)  # some longer steps, so that kills often catch one running
    cluster.submit()
    remote = cluster.url.startswith("postgresql")
    if remote:
        require_other_host()
    boxes = (f"box-{n}" if remote else None for n in range(KILLS + 1))  # a new machine for each restart
    rnd = random.Random(SEED)
    steady = [cluster.start_worker(*WORKER) for _ in range(2)]
    victim = cluster.start_worker(*WORKER, host=next(boxes))
    killed: list[subprocess.Popen[bytes]] = []
    cut: list[tuple[str, int]] = []  # (key, attempt) the victim had started and not finished when killed
    for _ in range(KILLS):
        # a random moment: after its next 1..12 starts, while it runs a step
        goal = len(_starts_by(cluster.attempts(), victim.pid)) + rnd.randint(1, 12)
        if not _wait_for_starts(cluster, victim.pid, goal):
            break  # the others finished everything meanwhile
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)
        attempts = cluster.attempts()
        ended = {(a.key, a.attempt) for a in attempts if a.event == "end"}
        cut += [(a.key, a.attempt) for a in _starts_by(attempts, victim.pid) if (a.key, a.attempt) not in ended]
        killed.append(victim)
        victim = cluster.start_worker(*WORKER, host=next(boxes))
    cluster.wait_all(timeout=150)

    assert len(killed) >= 2, f"only {len(killed)} kills happened before the sweep was done"
    assert cut, "no kill caught a step running"
    for proc in killed:
        assert proc.returncode == -signal.SIGKILL
    for proc in [*steady, victim]:
        assert proc.returncode == 0, cluster.outputs()
    for proc in cluster.workers:
        no_errors(cluster.output(proc))

    facts = cluster.check_sweep(RUNS)
    records = facts["records"]
    for key, attempt in cut:  # what a kill interrupted ran again, and that later attempt is the one recorded
        assert records[key].attempts > attempt, (key[:12], attempt, records[key].attempts)
    # one finish per execution: no two workers both reported recording it (a killed worker's output may
    # have lost its last lines, never gained any)
    done_lines = Counter(m.group(1) for proc in cluster.workers
                         for m in re.finditer(r" done faults (?:prep|work) ([0-9a-f]{12})", cluster.output(proc)))
    assert max(done_lines.values()) == 1, [k for k, n in done_lines.items() if n > 1]
    for proc in [*steady, victim]:  # each execution recorded by a worker that exited normally says so
        mine = {key[:12] for key, ex in records.items() if _pid(ex.worker_id) == proc.pid}
        said = set(re.findall(r" done faults (?:prep|work) ([0-9a-f]{12})", cluster.output(proc)))
        assert mine == said


def _pid(worker_id: str | None) -> int:
    """The pid in a worker id (``HOST-PID-XXXXXX``)."""
    assert worker_id is not None
    return int(worker_id.rsplit("-", 2)[1])


def _starts_by(attempts: list[Attempt], pid: int) -> list[Attempt]:
    return [a for a in attempts if a.event == "start" and _pid(a.worker) == pid]


def _wait_for_starts(cluster: Cluster, pid: int, goal: int) -> bool:
    """Wait until worker ``pid`` has started ``goal`` steps and runs one now; False when every step of the
    sweep ended first."""

    def ready() -> str:
        attempts = cluster.attempts()
        mine = _starts_by(attempts, pid)
        ended = {(a.key, a.attempt) for a in attempts if a.event == "end"}
        if len(mine) >= goal and any((a.key, a.attempt) not in ended for a in mine):
            return "yes"
        return "done" if len({a.key for a in attempts if a.event == "end"}) >= 2 * RUNS else ""

    return bool(wait_for(ready, timeout=60, what=f"worker {pid} to start more steps", interval=0.005) == "yes")
