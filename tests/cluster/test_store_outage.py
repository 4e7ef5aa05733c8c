"""The PostgreSQL server goes away in the middle of a sweep (DESIGN §6, §10: the metric files keep
everything until the store is back; a finished step's record survives a crash of the store connection).

Three workers (two `--burst`, one long-lived) pull a 300-execution sweep; while some long steps run, the
server is stopped (``pg_ctl stop -m fast``: every connection is closed) and started again on the same port
and data once every worker has met the outage and a step running at the stop has ended meanwhile. The
running steps carry on (none is run twice: no lease expires, nothing is taken back), their metrics and
results reach the store once it is back, every execution ends done with all its metric points, the burst
workers exit 0 once the sweep is done and the long-lived one keeps going until Ctrl-C, then exits 0."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from runyard.testing.pgserver import PgServer, own_server_for_pytest
from runyard.testing.processes import wait_for

from .conftest import Cluster, cluster_on, no_errors

RUNS = 150  # × 2 steps = 300 executions
LONG = range(0, RUNS, 15)  # runs whose work step takes 4 s, across the outage


@pytest.fixture
def own_pg_server() -> Iterator[PgServer]:
    """A server of this test alone (it is stopped and started again)."""
    with own_server_for_pytest() as server:
        yield server


@pytest.mark.postgres
def test_workers_ride_out_a_postgresql_restart_and_lose_nothing(own_pg_server: PgServer, tmp_path: Path) -> None:
    with cluster_on(tmp_path, own_pg_server.create_database()) as cluster:
        run_through_outage(cluster, own_pg_server)


def run_through_outage(cluster: Cluster, server: PgServer) -> None:
    cluster.sweep(RUNS)
    for i in LONG:
        cluster.slow(4, "work", i)
    cluster.submit()
    burst = [cluster.start_worker("--jobs", "2") for _ in range(2)]
    steady = cluster.start_worker("--jobs", "2", burst=False)

    def long_step_running() -> bool:
        attempts = cluster.attempts()
        ended = {a.key for a in attempts if a.event == "end"}
        return sum(a.event == "end" for a in attempts) >= 60 and any(
            a.event == "start" and a.step == "work" and a.i in LONG and a.key not in ended for a in attempts)

    wait_for(long_step_running, timeout=60, what="a long step to run, a fifth of the sweep done")
    server.halt("fast")
    at_stop = cluster.attempts()
    ended_at_stop = {a.key for a in at_stop if a.event == "end"}
    running_at_stop = {a.key for a in at_stop if a.event == "start"} - ended_at_stop

    def outage_met() -> bool:
        """Every worker has said the store is unreachable, and a step running at the stop has ended since."""
        ended_since = {a.key for a in cluster.attempts()[len(at_stop):] if a.event == "end"}
        return all("store unreachable:" in cluster.output(proc) for proc in cluster.workers) and bool(
            running_at_stop & ended_since)

    wait_for(outage_met, timeout=60, what="every worker to meet the outage and a running step to end during it")
    during = cluster.attempts()[len(at_stop):]
    server.start_again()
    for proc in cluster.workers:
        assert proc.poll() is None, f"a worker exited while the store was down\n{cluster.outputs()}"

    # the steps running at the stop carried on: some ended while the store was down
    assert running_at_stop & {a.key for a in during if a.event == "end"}

    for proc in burst:
        try:
            proc.wait(120)
        except Exception:
            cluster.kill_all()
            raise AssertionError(f"a burst worker did not finish\n{cluster.outputs()}") from None
        assert proc.returncode == 0, cluster.outputs()
    facts = cluster.check_sweep(RUNS)
    assert steady.poll() is None, cluster.outputs()  # a long-lived worker stays for more work
    os.kill(steady.pid, signal.SIGINT)
    assert steady.wait(30) == 0, cluster.outputs()
    for proc in cluster.workers:
        no_errors(cluster.output(proc))
    # nothing was taken back and run again: every execution ran once, by the worker that started it
    assert all(ex.attempts == 1 for ex in facts["records"].values())
    assert sum(a.event == "start" for a in facts["attempts"]) == 2 * RUNS
