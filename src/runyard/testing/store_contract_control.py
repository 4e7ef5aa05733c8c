"""Store contract, control part: cancel, holders, priorities and wake-ups; see
:mod:`runyard.testing.store_contract`, whose ``StoreContract`` combines every part."""

from __future__ import annotations

import time
from pathlib import Path

from runyard.model import Run, Status
from runyard.store.base import Store
from runyard.testing.store_helpers import accept_all, ex, plan

R, W, D, C = Status.READY, Status.WAITING, Status.DONE, Status.CANCELLED


class ControlContract:
    def test_cancel_experiment_cancels_every_unfinished_execution(self, store: Store, tmp_path: Path) -> None:
        a, b = ex(tmp_path, "a"), ex(tmp_path, "b")
        c = ex(tmp_path, "c", [a])
        store.submit(plan(tmp_path, a, b, c))
        store.claim("w", lambda r: r.key == a.key, limit=1)
        store.claim("w", lambda r: r.key == b.key, limit=1)
        store.finish(b.key, "w", status=D, exit_code=0)
        result = store.cancel("exp")
        assert set(result.keys) == {a.key, c.key} and result.running == (a.key,)
        assert [store.execution(k).status for k in (a.key, b.key, c.key)] == [C, D, C]
        assert store.holders([a.key, b.key]) == {a.key: (C, "w"), b.key: (D, "w")}
        assert store.finish(a.key, "w", status=D, exit_code=0) is None, "a cancelled step's worker cannot record"
        assert store.cancel("exp").keys == (), "nothing left to cancel"

    def test_cancel_runs_spares_what_other_runs_share(self, store: Store, tmp_path: Path) -> None:
        prep = ex(tmp_path, "prep")
        t1, t2 = ex(tmp_path, "train", [prep], variant="1"), ex(tmp_path, "train", [prep], variant="2")
        agg = ex(tmp_path, "agg", [t1, t2])
        runs = [
            Run("r1", "exp", "r1", {"x": 1}, (("prep", prep.key), ("train", t1.key)), str(tmp_path / "r1")),
            Run("r2", "exp", "r2", {"x": 2}, (("prep", prep.key), ("train", t2.key)), str(tmp_path / "r2")),
        ]
        store.submit(plan(tmp_path, prep, t1, t2, agg, runs=runs))
        result = store.cancel("exp", ["r1"])
        assert set(result.keys) == {t1.key, agg.key}, "the shared prep stays; what waits on r1 cannot start"
        assert store.execution(prep.key).status == R and store.execution(t2.key).status == W
        store.submit(plan(tmp_path, prep, t1, t2, agg, runs=runs))
        assert store.execution(t1.key).status == W, "a new submit requeues cancelled executions"

    def test_set_priority_reorders_queued_work(self, store: Store, tmp_path: Path) -> None:
        a = ex(tmp_path, "a", experiment="low")
        b = ex(tmp_path, "b", experiment="high")
        store.submit(plan(tmp_path, a, experiment="low"))
        store.submit(plan(tmp_path, b, experiment="high"))
        assert store.set_priority("high", 5) == 1
        (first,) = store.claim("w", accept_all, limit=1)
        assert first.key == b.key and first.priority == 5

    def test_paused_experiment_keeps_its_queue(self, store: Store, tmp_path: Path) -> None:
        a = ex(tmp_path, "a")
        store.submit(plan(tmp_path, a))
        store.pause("exp")
        assert store.claim("w", accept_all, limit=1) == []
        assert store.execution(a.key).status == R
        store.pause("exp", False)
        assert [r.key for r in store.claim("w", accept_all, limit=1)] == [a.key]

    def test_listener_wakes_on_ready_work(self, store: Store, tmp_path: Path) -> None:
        listener = store.listener()
        if listener is None:  # SQLite: workers poll
            return
        try:
            assert listener.alive and listener.fileno() >= 0
            assert listener.drain() == []
            a = ex(tmp_path, "a")
            b = ex(tmp_path, "b", [a])
            store.submit(plan(tmp_path, a, b))
            assert _wait_for(listener, "ready:exp")
            store.claim("w", accept_all, limit=1)
            store.finish(a.key, "w", status=D, exit_code=0)
            assert _wait_for(listener, "ready:"), "a dependent made ready wakes workers"
            store.cancel("exp")
            assert _wait_for(listener, "cancel:exp")
        finally:
            listener.close()


def _wait_for(listener: object, payload: str, timeout: float = 5.0) -> bool:
    import select

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        select.select([listener.fileno()], [], [], 0.2)  # type: ignore[attr-defined]
        if any(p.startswith(payload) for p in listener.drain()):  # type: ignore[attr-defined]
            return True
    return False
