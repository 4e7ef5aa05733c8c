"""A worker's PostgreSQL wake-up link breaks (the server restarted, a proxy dropped it): the worker goes on
polling, reopens the link, and runs what is submitted afterwards (its closed socket's file descriptor number,
soon taken by a new step's pidfd, must not stay registered with the worker's selector)."""

from __future__ import annotations

import os
import signal

import psycopg
import pytest

from runyard.testing.processes import wait_for

from .conftest import Cluster, no_errors


def done_count(cluster: Cluster) -> int:
    with cluster.store() as store:
        return sum(1 for ex in store.executions("faults") if str(ex.status) == "done")


@pytest.mark.postgres
@pytest.mark.parametrize("cluster", ["postgresql"], indirect=True)
def test_a_worker_whose_wake_up_link_broke_runs_what_comes_next(cluster: Cluster) -> None:
    cluster.sweep(2)
    cluster.submit()
    worker = cluster.start_worker("--jobs", "1", burst=False)
    wait_for(lambda: done_count(cluster) == 4, timeout=30, what="the first sweep")
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        ended = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE application_name = 'runyard-listen' AND datname = current_database()").fetchall()
    assert ended == [(True,)]
    cluster.sweep(6)
    cluster.submit()
    wait_for(lambda: done_count(cluster) == 12 or worker.poll() is not None, timeout=60, what="the second sweep")
    assert worker.poll() is None, cluster.outputs()
    os.kill(worker.pid, signal.SIGINT)
    assert worker.wait(30) == 0, cluster.outputs()
    no_errors(cluster.output(worker))
    cluster.check_sweep(6)
