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

The concurrency tests open further stores on ``store.url`` in threads and in real processes; the
read-only tests (``store_contract_readonly.py``) open ``opener(url, readonly=True)`` beside the store.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest

from runyard.errors import RunNotFound
from runyard.model import Run, Status
from runyard.store.base import ExecRecord, Store
from runyard.testing.store_contract_control import ControlContract
from runyard.testing.store_contract_past import PastContract
from runyard.testing.store_contract_readonly import ReadOnlyContract
from runyard.testing.store_contract_state import FinishContract, LeaseContract, QueryContract, _Contract
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

__all__ = [
    "ClaimContract",
    "ControlContract",
    "FinishContract",
    "LeaseContract",
    "PastContract",
    "QueryContract",
    "ReadOnlyContract",
    "StoreContract",
    "SubmitContract",
]


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


class StoreContract(SubmitContract, ClaimContract, FinishContract, LeaseContract, QueryContract, ControlContract,
                    ReadOnlyContract, PastContract):
    """The whole contract. ``opener`` names a ``module:function(url) -> Store`` used to open
    further connections to the same store (in threads and child processes); ``opener(url,
    readonly=True)`` must give the read-only reader."""
