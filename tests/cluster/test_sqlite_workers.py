"""Four worker processes on one SQLite store on one machine (DESIGN §5: WAL, busy timeout, BEGIN IMMEDIATE
claims): a 300-execution sweep is done, each execution once, and no worker ever meets 'database is locked'.
Two are `runyard worker --burst`, two are `runyard run` of the same spec (which submit it again meanwhile)."""

from __future__ import annotations

from .conftest import Cluster, no_errors

RUNS = 150  # × 2 steps = 300 executions


def test_four_workers_on_one_sqlite_store_run_each_execution_once(sqlite_cluster: Cluster) -> None:
    cluster = sqlite_cluster
    cluster.sweep(RUNS)
    cluster.submit()
    workers = [cluster.start_worker("--jobs", "2", command=command) for command in ("worker", "run") * 2]
    cluster.wait_all(timeout=150)
    for proc in workers:
        assert proc.returncode == 0, cluster.outputs()
        no_errors(cluster.output(proc))
    facts = cluster.check_sweep(RUNS)
    # nothing failed or died: every execution ran exactly once, and the work was shared
    starts = [a for a in facts["attempts"] if a.event == "start"]
    assert len(starts) == 2 * RUNS
    assert all(ex.attempts == 1 for ex in facts["records"].values())
    by_worker = {a.worker for a in starts}
    assert len(by_worker) == 4, f"only {len(by_worker)} of the 4 workers ran steps"
