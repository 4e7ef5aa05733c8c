"""The store contract suite: every :class:`~runyard.store.base.Store` backend must pass it.

Use it by subclassing in a test module and providing two fixtures::

    from runyard.testing.store_contract import StoreContract

    class TestMyStore(StoreContract):
        opener = "mypkg.store:open_my_store"   # "module:function(url) -> Store", for child processes

    @pytest.fixture
    def clock():
        return FakeClock()

    @pytest.fixture
    def store(clock, tmp_path):                # a fresh, empty store using ``clock``
        with open_my_store(url, clock=clock) as s:
            yield s

The concurrency tests open further stores on ``store.url`` in threads and in real processes.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest

from runyard.errors import RunNotFound
from runyard.model import Metric, Run, Status, WorkerInfo
from runyard.store.base import ExecRecord, Store
from runyard.testing.store_helpers import (
    FakeClock,
    accept_all,
    ex,
    key,
    only,
    open_by,
    plan,
    run_drainers,
    run_to_done,
)

R, W, D = Status.READY, Status.WAITING, Status.DONE


class _Contract:
    #: ``module:function(url) -> Store`` opening further connections to the same store.
    opener = "runyard.store:open_store"


class SubmitContract(_Contract):
    def test_new_executions_ready_or_waiting(self, store: Store, tmp_path: Path) -> None:
        a = ex(tmp_path, "a")
        b = ex(tmp_path, "b", [a])
        c = ex(tmp_path, "c", [a, b])
        result = store.submit(plan(tmp_path, a, b, c))
        assert result.added == (a.key, b.key, c.key) and result.runs_added == 1
        got = {r.key: r for r in store.executions("exp")}
        assert [got[k].status for k in (a.key, b.key, c.key)] == [R, W, W]
        assert got[c.key].needs == (a.key, b.key) and got[c.key].to_step_exec() == c
        assert got[a.key].seq < got[b.key].seq < got[c.key].seq and got[a.key].attempts == 0
        counts = store.counts("exp")
        assert counts[R] == 1 and counts[W] == 2 and counts[D] == 0 and set(counts) == set(Status)

    def test_submit_is_idempotent(self, store: Store, tmp_path: Path) -> None:
        a = ex(tmp_path, "a")
        b = ex(tmp_path, "b", [a])
        p = plan(tmp_path, a, b)
        store.submit(p)
        before = store.executions()
        again = store.submit(p)
        assert again.added == () and again.already_queued == (a.key, b.key) and again.runs_added == 0
        assert store.executions() == before
        assert len(store.runs()) == 1 and store.experiments() == ["exp"]

    def test_experiment_and_runs_are_stored(self, store: Store, tmp_path: Path) -> None:
        a, b = ex(tmp_path, "prep"), ex(tmp_path, "train", [ex(tmp_path, "prep")])
        runs = [
            Run(key("r1"), "exp", "lr=0.1", {"lr": 0.1}, (("prep", a.key), ("train", b.key)), str(tmp_path / "r1")),
            Run(key("r2"), "exp", "lr=0.2", {"lr": 0.2}, (("prep", a.key),), str(tmp_path / "r2")),
        ]
        store.submit(plan(tmp_path, a, b, runs=runs))
        info = store.experiment("exp")
        assert info.spec["experiment"] == "exp" and info.spec_path.endswith("spec.yaml") and not info.paused
        got = store.runs("exp")
        assert [r.name for r in got] == ["lr=0.1", "lr=0.2"]
        assert got[0].params == {"lr": 0.1} and got[0].steps == (("prep", a.key), ("train", b.key))
        assert got[0].status == R and got[0].statuses == (R, W)
        assert store.run("lr=0.2").id == key("r2") and store.run(key("r1")[:8], "exp").name == "lr=0.1"
        assert store.runs("other") == []

    def test_run_links_follow_a_changed_plan(self, store: Store, tmp_path: Path) -> None:
        a, b = ex(tmp_path, "a"), ex(tmp_path, "b")
        run1 = Run(key("r"), "exp", "r", {"x": 1}, (("s", a.key), ("t", b.key)), str(tmp_path))
        store.submit(plan(tmp_path, a, b, runs=[run1]))
        a2 = ex(tmp_path, "a", variant="code changed")
        run2 = Run(key("r"), "exp", "renamed", {"x": 1}, (("s", a2.key),), str(tmp_path))
        store.submit(plan(tmp_path, a2, runs=[run2]))
        (got,) = store.runs("exp")
        assert got.name == "renamed" and got.steps == (("s", a2.key),)

    def test_done_is_cached_while_its_folder_exists(self, store: Store, tmp_path: Path) -> None:
        a = ex(tmp_path, "a")
        b = ex(tmp_path, "b", [a])
        p = plan(tmp_path, a, b)
        store.submit(p)
        run_to_done(store, "w", a.key)
        Path(a.folder).mkdir(parents=True)
        result = store.submit(p)
        assert result.cached == (a.key,) and result.already_queued == (b.key,)
        assert store.execution(a.key).status == D and store.execution(b.key).status == R

    def test_done_with_missing_folder_is_requeued(self, store: Store, tmp_path: Path) -> None:
        a = ex(tmp_path, "a")
        b = ex(tmp_path, "b", [a])
        p = plan(tmp_path, a, b)
        store.submit(p)
        run_to_done(store, "w", a.key)  # b is now ready, its input folder is gone
        result = store.submit(p)
        assert result.requeued == (a.key,)
        assert store.execution(a.key).status == R and store.execution(a.key).attempts == 0
        assert store.execution(b.key).status == W, "a ready dependent of a requeued execution waits again"

    @pytest.mark.parametrize("final", [Status.FAILED, Status.INTERRUPTED, Status.CANCELLED])
    def test_unfinished_are_requeued(self, store: Store, tmp_path: Path, final: Status) -> None:
        a = ex(tmp_path, "a")
        b = ex(tmp_path, "b", [a])
        p = plan(tmp_path, a, b)
        store.submit(p)
        store.claim("w", accept_all, limit=1)
        assert store.finish(a.key, "w", status=final, exit_code=1, error="boom") is not None
        assert store.execution(a.key).status == final and store.execution(a.key).attempts == 1
        result = store.submit(p)
        assert result.requeued == (a.key,) and result.already_queued == (b.key,)
        rec = store.execution(a.key)
        assert (rec.status, rec.attempts, rec.error, rec.exit_code) == (R, 0, None, None)

    def test_force_resets_done_and_keeps_running(self, store: Store, tmp_path: Path) -> None:
        a = ex(tmp_path, "a")
        b = ex(tmp_path, "b", [a])
        c = ex(tmp_path, "c")
        p = plan(tmp_path, a, b, c)
        store.submit(p)
        run_to_done(store, "w", a.key)
        run_to_done(store, "w", b.key)
        for e in (a, b):
            Path(e.folder).mkdir(parents=True)
        store.claim("w", accept_all, limit=1)  # c running
        result = store.submit(p, force=[a.key, b.key, c.key], priority=3)
        assert result.forced == (a.key, b.key) and result.already_queued == (c.key,)
        got = {r.key: r for r in store.executions()}
        assert (got[a.key].status, got[b.key].status, got[c.key].status) == (R, W, Status.RUNNING)
        assert got[a.key].priority == 3 and got[c.key].priority == 0
        with pytest.raises(ValueError, match="not in the plan"):
            store.submit(p, force=[key("elsewhere")])

    def test_resubmit_updates_definition_of_queued(self, store: Store, tmp_path: Path) -> None:
        a = ex(tmp_path, "a", retries=0, gpus=0)
        store.submit(plan(tmp_path, a))
        store.submit(plan(tmp_path, ex(tmp_path, "a", retries=2, gpus=1, timeout=5.0)))
        rec = store.execution(a.key)
        assert (rec.retries, rec.gpus, rec.timeout, rec.status) == (2, 1, 5.0, R)

    def test_need_outside_the_plan(self, store: Store, tmp_path: Path) -> None:
        a = ex(tmp_path, "a")
        store.submit(plan(tmp_path, a))
        run_to_done(store, "w", a.key)
        b = ex(tmp_path, "b", [a])
        store.submit(plan(tmp_path, b))  # a is only in the store
        assert store.execution(b.key).status == R

    def test_est_duration_from_done_history(self, store: Store, clock: FakeClock, tmp_path: Path) -> None:
        first = [ex(tmp_path, f"t{i}", step="train") for i in range(2)]
        store.submit(plan(tmp_path, *first))
        for i, e in enumerate(first):
            store.claim("w", only(e.key), limit=1)
            clock.advance(10 + 20 * i)
            store.finish(e.key, "w", status=D, exit_code=0)
        assert store.execution(first[1].key).duration == pytest.approx(30)
        later = ex(tmp_path, "t9", step="train")
        store.submit(plan(tmp_path, later, ex(tmp_path, "other")))
        assert store.execution(later.key).est_duration == pytest.approx(20)
        assert store.execution(ex(tmp_path, "other").key).est_duration is None


class ClaimContract(_Contract):
    def test_claim_marks_running(self, store: Store, clock: FakeClock, tmp_path: Path) -> None:
        a = ex(tmp_path, "a")
        store.submit(plan(tmp_path, a))
        (got,) = store.claim("w1", accept_all, limit=5, lease_seconds=12)
        assert (got.key, got.status, got.worker_id, got.attempts) == (a.key, Status.RUNNING, "w1", 1)
        assert got.started == clock.now and got.lease_expires == clock.now + 12
        assert store.execution(a.key) == got
        assert store.claim("w2", accept_all, limit=5) == []

    def test_claim_order_priority_then_seq(self, store: Store, tmp_path: Path) -> None:
        low = [ex(tmp_path, f"low{i}") for i in range(3)]
        store.submit(plan(tmp_path, *low))
        high = ex(tmp_path, "high", experiment="other")
        store.submit(plan(tmp_path, high, experiment="other"), priority=5)
        got = store.claim("w", accept_all, limit=10)
        assert [r.key for r in got] == [high.key] + [e.key for e in low]

    def test_claim_order_longest_first(self, store: Store, clock: FakeClock, tmp_path: Path) -> None:
        hist = [ex(tmp_path, "h-short", step="short"), ex(tmp_path, "h-long", step="long")]
        store.submit(plan(tmp_path, *hist))
        for e, seconds in zip(hist, (1, 100), strict=True):
            store.claim("w", only(e.key), limit=1)
            clock.advance(seconds)
            store.finish(e.key, "w", status=D, exit_code=0)
        news = [ex(tmp_path, "new"), ex(tmp_path, "s", step="short"), ex(tmp_path, "l", step="long")]
        store.submit(plan(tmp_path, *news))
        assert [r.key for r in store.claim("w", accept_all, limit=3)] == [news[2].key, news[1].key, news[0].key]

    def test_rejected_candidates_stay_ready(self, store: Store, tmp_path: Path) -> None:
        execs = [ex(tmp_path, f"e{i}", gpus=i % 2) for i in range(6)]
        store.submit(plan(tmp_path, *execs))
        seen: list[str] = []

        def cpu_only(record: ExecRecord) -> bool:
            seen.append(record.key)
            return record.gpus == 0

        got = store.claim("w", cpu_only, limit=2)
        assert [r.key for r in got] == [execs[0].key, execs[2].key]
        assert seen == [e.key for e in execs[:3]], "accept is called in order and stops at the limit"
        rest = store.executions(statuses=[R])
        assert [r.key for r in rest] == [e.key for e in execs if e.key not in {g.key for g in got}]
        assert all(r.attempts == 0 and r.worker_id is None for r in rest)
        assert store.claim("w", lambda r: False, limit=3) == [] and store.counts()[R] == 4
        assert store.claim("w", accept_all, limit=0) == []

    def test_claim_by_experiment_and_pause(self, store: Store, tmp_path: Path) -> None:
        a, b = ex(tmp_path, "a"), ex(tmp_path, "b", experiment="two")
        store.submit(plan(tmp_path, a))
        store.submit(plan(tmp_path, b, experiment="two"))
        store.pause("exp")
        assert store.experiment("exp").paused
        assert store.claim("w", accept_all, limit=5, experiment="exp") == []
        assert [r.key for r in store.claim("w", accept_all, limit=5)] == [b.key]
        store.pause("exp", False)
        assert [r.key for r in store.claim("w", accept_all, limit=5, experiment="exp")] == [a.key]
        with pytest.raises(RunNotFound, match="did you mean 'exp'"):
            store.pause("exq")

    def test_concurrent_claims_in_threads(self, store: Store, tmp_path: Path) -> None:
        execs = [ex(tmp_path, f"e{i}") for i in range(40)]
        store.submit(plan(tmp_path, *execs))
        stores = [open_by(self.opener, store.url) for _ in range(4)]
        got: list[list[str]] = [[] for _ in stores]
        start = threading.Barrier(len(stores))

        def drain(i: int) -> None:
            start.wait()
            while records := stores[i].claim(f"t{i}", accept_all, limit=3):
                got[i] += [r.key for r in records]

        threads = [threading.Thread(target=drain, args=(i,)) for i in range(len(stores))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for s in stores:
            s.close()
        counts = Counter(k for keys in got for k in keys)
        assert set(counts) == {e.key for e in execs} and set(counts.values()) == {1}

    def test_submit_while_a_claim_is_in_progress(self, store: Store, tmp_path: Path) -> None:
        """A submit that rewrites rows a claim is looking at waits for it (no deadlock, no error)."""
        a, b = ex(tmp_path, "a"), ex(tmp_path, "b")
        store.submit(plan(tmp_path, a, b))
        other = open_by(self.opener, store.url)
        inside, release = threading.Event(), threading.Event()
        errors: list[BaseException] = []
        claimed: list[str] = []

        def slow_accept(record: ExecRecord) -> bool:
            inside.set()
            release.wait(10)
            return record.key == a.key

        def claim() -> None:
            try:
                claimed.extend(r.key for r in store.claim("w", slow_accept, limit=1))
            except BaseException as err:
                errors.append(err)

        def submit() -> None:
            try:  # new definitions for both ready rows: the submit must write them
                other.submit(plan(tmp_path, ex(tmp_path, "a", retries=3), ex(tmp_path, "b", retries=3)))
            except BaseException as err:
                errors.append(err)

        claimer = threading.Thread(target=claim)
        claimer.start()
        assert inside.wait(10)
        submitter = threading.Thread(target=submit)
        submitter.start()
        submitter.join(0.5)  # the submit now waits for the claim's transaction
        release.set()
        claimer.join(30)
        submitter.join(30)
        other.close()
        assert not errors, errors
        assert claimed == [a.key]
        got = {r.key: r for r in store.executions()}
        assert got[a.key].status == Status.RUNNING and got[b.key].retries == 3

    def test_concurrent_workers_in_processes(self, store: Store, tmp_path: Path) -> None:
        """Real processes claim, run and finish a DAG with fan-in: no key is claimed twice, and
        every dependent becomes ready even when its upstreams finish at the same time."""
        preps = [ex(tmp_path, f"p{i}") for i in range(8)]
        trains = [ex(tmp_path, f"t{i}-{j}", [p]) for i, p in enumerate(preps) for j in range(3)]
        aggs = [ex(tmp_path, f"agg{i}", trains[i::4]) for i in range(4)]
        execs = preps + trains + aggs
        store.submit(plan(tmp_path, *execs))
        found = run_drainers(self.opener, store.url, "exp", len(execs), workers=4)
        counts = Counter(k for keys in found.values() for k in keys)
        assert set(counts) == {e.key for e in execs} and set(counts.values()) == {1}
        assert store.counts("exp")[D] == len(execs)


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
        assert store.execution(a.key).status == Status.FAILED and store.execution(a.key).ended is not None
        assert store.execution(b.key).status == R and store.execution(b.key).attempts == 1
        assert "lease" in (store.execution(b.key).error or "")
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
        assert reaped[b.key].status == Status.FAILED and reaped[b.key].pgid is None
        assert [w.id for w in store.workers()] == ["alive"]
        assert store.execution(c.key).status == Status.RUNNING
        assert store.reap_worker("dead") == []

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


class StoreContract(SubmitContract, ClaimContract, FinishContract, LeaseContract, QueryContract):
    """The whole contract. ``opener`` names a ``module:function(url) -> Store`` used to open
    further connections to the same store (in threads and child processes)."""
