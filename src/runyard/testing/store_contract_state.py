"""Second half of the store contract (finish, leases and workers, queries and metrics); see
:mod:`runyard.testing.store_contract`, whose ``StoreContract`` combines every part."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest

from runyard.errors import LeaseLost, RunNotFound
from runyard.model import Metric, Run, Status, WorkerInfo
from runyard.store.base import LOST_LIMIT, MetricRow, Store
from runyard.testing.store_helpers import FakeClock, accept_all, ex, key, plan, run_to_done

R, W, D = Status.READY, Status.WAITING, Status.DONE


class _Contract:
    #: ``module:function(url) -> Store`` opening further connections to the same store.
    opener = "runyard.store:open_store"


class FinishContract(_Contract):
    def test_finish_done_readies_dependents(self, store: Store, tmp_path: Path) -> None:
        a, b = ex(tmp_path, "a"), ex(tmp_path, "b")
        c = ex(tmp_path, "c", [a, b])
        d = ex(tmp_path, "d", [c])
        store.submit(plan(tmp_path, a, b, c, d))
        store.claim("w", accept_all, limit=2)
        assert store.started(a.key, "w", pid=10, pgid=10, host="h", command_env={"CUDA_VISIBLE_DEVICES": "0"})
        done = store.finish(a.key, "w", status=D, exit_code=0, provenance={"git": "abc"})
        assert done is not None and done.status == D and done.exit_code == 0 and done.lease_expires is None
        assert done.provenance == {"git": "abc"} and done.command_env == {"CUDA_VISIBLE_DEVICES": "0"}
        assert (done.pid, done.pgid, done.host) == (10, 10, "h")
        assert store.execution(c.key).status == W
        store.finish(b.key, "w", status=D, exit_code=0)
        assert store.execution(c.key).status == R and store.execution(d.key).status == W

    def test_finish_is_compare_and_set(self, store: Store, tmp_path: Path) -> None:
        a = ex(tmp_path, "a")
        store.submit(plan(tmp_path, a))
        assert store.finish(a.key, "w", status=D, exit_code=0) is None, "not running"
        store.claim("w1", accept_all, limit=1)
        assert store.finish(a.key, "w2", status=D, exit_code=0) is None, "not the owner"
        assert not store.started(a.key, "w2", pid=1, pgid=1, host="h")
        assert store.execution(a.key).status == Status.RUNNING
        assert store.finish(a.key, "w1", status=Status.FAILED, exit_code=3) is not None
        assert store.finish(a.key, "w1", status=D, exit_code=0) is None, "finished twice"
        assert store.execution(a.key).exit_code == 3
        with pytest.raises(ValueError):
            store.finish(a.key, "w1", status=Status.RUNNING, exit_code=None)

    def test_taken_over_lease_cannot_be_overwritten(self, store: Store, clock: FakeClock, tmp_path: Path) -> None:
        a = ex(tmp_path, "a", retries=1)
        store.submit(plan(tmp_path, a))
        store.claim("w1", accept_all, limit=1, lease_seconds=30)
        clock.advance(31)
        assert store.reap() == [a.key]
        (again,) = store.claim("w2", accept_all, limit=1)
        assert again.attempts == 2 and again.worker_id == "w2"
        assert store.finish(a.key, "w1", status=Status.FAILED, exit_code=1) is None
        assert not store.started(a.key, "w1", pid=1, pgid=1, host="h")
        assert store.heartbeat("w1") == [] and store.heartbeat("w2") == [a.key]
        assert store.finish(a.key, "w2", status=D, exit_code=0) is not None

    def test_metrics_of_a_taken_over_attempt_are_refused(self, store: Store, clock: FakeClock,
                                                            tmp_path: Path) -> None:
        a = ex(tmp_path, "a", retries=1)
        store.submit(plan(tmp_path, a))
        store.claim("w1", accept_all, limit=1, lease_seconds=30)
        store.log_metric_rows(a.key, [(a.key, "loss", 0, 1.0, None)], owner="w1")
        with pytest.raises(LeaseLost):  # not the owner: nothing written
            store.log_metric_rows(a.key, [(a.key, "loss", 0, 9.0, None)], owner="w2")
        clock.advance(31)
        assert store.reap() == [a.key]
        with pytest.raises(LeaseLost):  # taken back, not claimed again yet
            store.log_metric_rows(a.key, [(a.key, "loss", 1, 2.0, None)], owner="w1")
        store.claim("w2", accept_all, limit=1)
        with pytest.raises(LeaseLost):
            store.clear_metrics(a.key, owner="w1")
        assert [p.value for p in store.metric_points(a.key)] == [1.0]  # w1's point from when it held a
        assert store.clear_metrics(a.key, owner="w2") is True
        store.log_metric_rows(a.key, [(a.key, "loss", 0, 5.0, None)], owner="w2")
        with pytest.raises(LeaseLost):
            store.log_metric_rows(a.key, [(a.key, "loss", 1, 2.0, None)], owner="w1")
        assert store.finish(a.key, "w2", status=D, exit_code=0) is not None
        with pytest.raises(LeaseLost):  # finished: even its last owner writes no more as owner
            store.log_metric_rows(a.key, [(a.key, "loss", 1, 6.0, None)], owner="w2")
        assert [p.value for p in store.metric_points(a.key)] == [5.0]
        assert store.metric_summaries([a.key])[a.key]["loss"].count == 1
        store.log_metric_rows(a.key, [(a.key, "loss", 1, 6.0, None)])  # no owner (reparse): no check
        assert len(store.metric_points(a.key)) == 2

    def test_metric_rows_replacing_an_earlier_attempts(self, store: Store, tmp_path: Path) -> None:
        a = ex(tmp_path, "a")
        store.submit(plan(tmp_path, a))
        store.claim("w1", accept_all, limit=1)
        store.log_metric_rows(a.key, [(a.key, "loss", 0, 1.0, None), (a.key, "acc", 0, 0.5, None)], owner="w1")
        with pytest.raises(LeaseLost):  # not the owner: nothing replaced
            store.log_metric_rows(a.key, [(a.key, "loss", 0, 9.0, None)], owner="w2", replace=True)
        store.log_metric_rows(a.key, [(a.key, "loss", 0, 3.0, None)], owner="w1", replace=True)
        assert [(p.name, p.value) for p in store.metric_points(a.key)] == [("loss", 3.0)]
        summaries = store.metric_summaries([a.key])[a.key]
        assert list(summaries) == ["loss"] and summaries["loss"].count == 1 and summaries["loss"].min == 3.0
        store.log_metric_rows(a.key, [], owner="w1", replace=True)  # no rows: cleared all the same
        assert store.metric_points(a.key) == []

    def test_started_sets_the_lease_it_is_given(self, store: Store, clock: FakeClock, tmp_path: Path) -> None:
        a = ex(tmp_path, "a")
        store.submit(plan(tmp_path, a))
        store.claim("w", accept_all, limit=1, lease_seconds=2)
        assert store.started(a.key, "w", pid=1, pgid=1, host="h", lease_seconds=2)
        assert store.execution(a.key).lease_expires == clock.now + 2
        clock.advance(3)
        assert store.reap() == [a.key]

    def test_retries(self, store: Store, tmp_path: Path) -> None:
        a = ex(tmp_path, "a", retries=1)
        store.submit(plan(tmp_path, a))
        store.claim("w", accept_all, limit=1)
        retry = store.finish(a.key, "w", status=Status.FAILED, exit_code=1, error="first")
        assert retry is not None and (retry.status, retry.attempts, retry.error) == (R, 1, "first")
        store.claim("w", accept_all, limit=1)
        final = store.finish(a.key, "w", status=Status.FAILED, exit_code=1)
        assert final is not None and (final.status, final.attempts) == (Status.FAILED, 2)
        assert store.claim("w", accept_all, limit=1) == []

    def test_set_status_compare_and_set(self, store: Store, tmp_path: Path) -> None:
        a = ex(tmp_path, "a")
        b = ex(tmp_path, "b", [a])
        store.submit(plan(tmp_path, a, b))
        assert not store.set_status(a.key, Status.CANCELLED, expected=W)
        assert store.set_status(a.key, D, expected=R)
        assert store.execution(b.key).status == R
        assert store.set_status(b.key, Status.CANCELLED, expected=R)
        assert store.claim("w", accept_all, limit=5) == []


class LeaseContract(_Contract):
    def test_reap_expired_leases(self, store: Store, clock: FakeClock, tmp_path: Path) -> None:
        a, b = ex(tmp_path, "a", retries=0), ex(tmp_path, "b", retries=1)
        store.submit(plan(tmp_path, a, b))
        store.register_worker(WorkerInfo("w", "host", 123), lease_seconds=30)
        store.claim("w", accept_all, limit=2, lease_seconds=30)
        clock.advance(20)
        assert store.reap() == []
        assert store.heartbeat("w", lease_seconds=30) == sorted([a.key, b.key])
        clock.advance(20)  # past the first lease, within the renewed one
        assert store.reap() == []
        assert store.reap(now=clock.now + 31) == sorted([a.key, b.key])
        # a lost worker is no failure of the step: requeued whatever retries says, counted in lost
        for reaped in (a.key, b.key):
            record = store.execution(reaped)
            assert (record.status, record.attempts, record.lost, record.ended) == (R, 1, 1, None)
            assert "lease" in (record.error or "")
        assert store.reap(now=clock.now + 1000) == []

    def test_reap_worker_returns_process_groups(self, store: Store, tmp_path: Path) -> None:
        a, b, c = ex(tmp_path, "a", retries=1), ex(tmp_path, "b"), ex(tmp_path, "c")
        store.submit(plan(tmp_path, a, b, c))
        store.register_worker(WorkerInfo("dead", "host", 1))
        store.register_worker(WorkerInfo("alive", "host", 2))
        store.claim("dead", lambda r: r.key != c.key, limit=2)
        store.claim("alive", accept_all, limit=1)
        store.started(a.key, "dead", pid=4242, pgid=4242, host="host")
        reaped = {r.key: r for r in store.reap_worker("dead")}
        assert set(reaped) == {a.key, b.key}
        assert (reaped[a.key].status, reaped[a.key].pgid, reaped[a.key].pid) == (R, 4242, 4242)
        assert reaped[b.key].status == R and reaped[b.key].pgid is None  # retries: 0, requeued all the same
        assert store.execution(b.key).lost == 1
        assert [w.id for w in store.workers()] == ["alive"]
        assert store.execution(c.key).status == Status.RUNNING
        assert store.reap_worker("dead") == []

    def test_lost_attempts_do_not_count_as_failures(self, store: Store, clock: FakeClock,
                                                    tmp_path: Path) -> None:
        a = ex(tmp_path, "a", retries=1)
        store.submit(plan(tmp_path, a))
        store.claim("w1", accept_all, limit=1, lease_seconds=30)
        assert store.reap(now=clock.now + 31) == [a.key]  # lost: attempt 1
        store.claim("w2", accept_all, limit=1)
        retry = store.finish(a.key, "w2", status=Status.FAILED, exit_code=1)  # failure 1 of 2 allowed
        assert retry is not None and (retry.status, retry.attempts, retry.lost) == (R, 2, 1)
        store.claim("w2", accept_all, limit=1)
        final = store.finish(a.key, "w2", status=Status.FAILED, exit_code=1)
        assert final is not None and (final.status, final.attempts) == (Status.FAILED, 3)
        store.submit(plan(tmp_path, a))  # a failed execution is requeued afresh
        assert (store.execution(a.key).attempts, store.execution(a.key).lost) == (0, 0)

    def test_a_step_that_loses_its_worker_every_time_is_failed_at_the_limit(self, store: Store, clock: FakeClock,
                                                                             tmp_path: Path) -> None:
        a = ex(tmp_path, "a", retries=3)
        store.submit(plan(tmp_path, a))
        for n in range(1, LOST_LIMIT + 1):
            assert len(store.claim(f"w{n}", accept_all, limit=1, lease_seconds=30)) == 1
            clock.advance(31)
            assert store.reap() == [a.key]
            record = store.execution(a.key)
            assert record.lost == n and record.status == (R if n < LOST_LIMIT else Status.FAILED)
        assert f"lost {LOST_LIMIT} times" in (record.error or "") and record.ended is not None
        assert store.claim("w", accept_all, limit=1) == []

    def test_interrupt(self, store: Store, clock: FakeClock, tmp_path: Path) -> None:
        a, b = ex(tmp_path, "a"), ex(tmp_path, "b")
        store.submit(plan(tmp_path, a, b))
        store.claim("w", lambda r: r.key == a.key, limit=1)
        clock.advance(5)
        assert store.interrupt("w") == [a.key]
        rec = store.execution(a.key)
        assert rec.status == Status.INTERRUPTED and rec.duration == pytest.approx(5)
        assert store.interrupt("w") == [] and store.execution(b.key).status == R

    def test_workers(self, store: Store, clock: FakeClock, tmp_path: Path) -> None:
        a = ex(tmp_path, "a")
        store.submit(plan(tmp_path, a))
        store.register_worker(WorkerInfo("w", "h1", 99, slots="gpu0,gpu1", started=5.0), lease_seconds=10)
        store.claim("w", accept_all, limit=1)
        (worker,) = store.workers()
        assert (worker.host, worker.pid, worker.slots, worker.started) == ("h1", 99, "gpu0,gpu1", 5.0)
        assert worker.running == (a.key,) and worker.alive(clock.now)
        clock.advance(11)
        assert not store.workers()[0].alive(clock.now)
        store.heartbeat("w", lease_seconds=10)
        assert store.workers()[0].alive(clock.now) and store.workers()[0].last_seen == clock.now
        store.register_worker(WorkerInfo("w", "h2", 100))  # re-registering replaces
        assert [(w.id, w.host) for w in store.workers()] == [("w", "h2")]
        store.unregister_worker("w")
        assert store.workers() == []


class QueryContract(_Contract):
    def test_metrics_batches_and_summaries(self, store: Store, clock: FakeClock, tmp_path: Path) -> None:
        a = ex(tmp_path, "a")
        store.submit(plan(tmp_path, a))
        store.log_metrics(a.key, [Metric("loss", 3.0, 1), Metric("loss", 1.0, 2), Metric("acc", 0.5, 2, 7.0)])
        store.log_metrics(a.key, [Metric("loss", 2.0, 3), Metric("acc", float("nan"), 3)])
        store.log_metrics(a.key, [])
        summary = store.metric_summaries([a.key, key("none")])[a.key]
        loss, acc = summary["loss"], summary["acc"]
        assert (loss.last, loss.last_step, loss.min, loss.max, loss.count) == (2.0, 3, 1.0, 3.0, 3)
        assert (acc.last, acc.min, acc.max, acc.count) == (None, 0.5, 0.5, 2)
        points = store.metric_points(a.key, "loss")
        assert [(p.value, p.step) for p in points] == [(3.0, 1), (1.0, 2), (2.0, 3)]
        assert store.metric_points(a.key, "acc")[0].time == 7.0
        assert len(store.metric_points(a.key)) == 5

    def test_metric_rows_in_bulk_and_clearing(self, store: Store, clock: FakeClock, tmp_path: Path) -> None:
        a, b = ex(tmp_path, "a"), ex(tmp_path, "b")
        store.submit(plan(tmp_path, a, b))
        assert store.clear_metrics(a.key) is False  # nothing to clear
        rows: list[MetricRow] = [(a.key, "loss", i, float(i), 100.0 + i) for i in range(1203)]  # several statements
        rows += [(a.key, "acc", None, None, None), (a.key, "acc", 7, 0.5, None)]
        store.log_metric_rows(a.key, rows)
        store.log_metrics(b.key, [Metric("loss", 9.0, 1)])
        summary = store.metric_summaries([a.key])[a.key]
        assert (summary["loss"].count, summary["loss"].min, summary["loss"].max, summary["loss"].last) == (
            1203, 0.0, 1202.0, 1202.0)
        assert (summary["acc"].count, summary["acc"].last, summary["acc"].last_step) == (2, 0.5, 7)
        loss = store.metric_points(a.key, "loss")
        assert [p.step for p in loss] == list(range(1203)) and loss[5].time == 105.0
        acc = store.metric_points(a.key, "acc")
        assert [p.time for p in acc] == [clock.now, clock.now] and sum(math.isnan(p.value) for p in acc) == 1
        assert store.clear_metrics(a.key) is True
        assert store.metric_points(a.key) == [] and store.metric_summaries([a.key]) == {}
        assert [p.value for p in store.metric_points(b.key)] == [9.0]  # another execution's are kept

    def test_execution_lookup(self, store: Store, tmp_path: Path) -> None:
        execs = [ex(tmp_path, f"e{i}") for i in range(20)]  # 20 keys: two share a first hex digit
        store.submit(plan(tmp_path, *execs))
        assert store.execution(execs[3].key[:12]).key == execs[3].key
        assert store.execution(execs[3].key.upper()).key == execs[3].key
        first = Counter(e.key[0] for e in execs).most_common(1)[0][0]
        with pytest.raises(RunNotFound, match="ambiguous"):
            store.execution(first)
        with pytest.raises(RunNotFound, match="no execution"):
            store.execution("f" * 64)
        with pytest.raises(RunNotFound, match="hexadecimal"):
            store.execution("train")
        assert [r.key for r in store.executions(keys=[execs[5].key, execs[2].key])] == [execs[2].key, execs[5].key]
        assert store.executions("nope") == [] and len(store.executions(statuses=[R, W])) == 20

    def test_run_lookup(self, store: Store, tmp_path: Path) -> None:
        a = ex(tmp_path, "a")
        runs = [Run(key(f"r{i}"), "exp", f"seed={i}", {"seed": i}, (("a", a.key),), str(tmp_path)) for i in range(20)]
        store.submit(plan(tmp_path, a, runs=runs))
        assert store.run("seed=3").id == key("r3") and store.run(key("r4")[:10]).name == "seed=4"
        with pytest.raises(RunNotFound, match="did you mean 'seed=1'"):
            store.run("seed=1x")
        with pytest.raises(RunNotFound, match="in experiment 'other'"):
            store.run("seed=3", "other")
        first = Counter(k[0] for k in (key(f"r{i}") for i in range(20))).most_common(1)[0][0]
        with pytest.raises(RunNotFound, match="ambiguous"):
            store.run(first)
        with pytest.raises(RunNotFound, match="no experiment"):
            store.experiment("nope")

    def test_run_status_and_idle(self, store: Store, tmp_path: Path) -> None:
        a = ex(tmp_path, "a")
        b = ex(tmp_path, "b", [a])
        store.submit(plan(tmp_path, a, b))
        assert store.runs()[0].status == R and not store.idle("exp")
        store.claim("w", accept_all, limit=1)
        assert store.runs()[0].status == Status.RUNNING and not store.idle()
        store.finish(a.key, "w", status=Status.FAILED, exit_code=1)
        assert store.runs()[0].status == Status.FAILED and store.idle("exp"), "b can never run"
        store.submit(plan(tmp_path, a, b))
        run_to_done(store, "w", a.key)
        run_to_done(store, "w", b.key)
        assert store.runs()[0].status == D and store.idle()
