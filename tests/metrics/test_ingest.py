"""Ingestion in the worker: nothing is lost while the store is unreachable, nothing is counted twice."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from runyard.errors import LeaseLost, StoreUnavailable
from runyard.execute.extract import Tail
from runyard.execute.ingest import Ingest, Tracked
from runyard.model import Metric
from runyard.store import Store, open_store
from runyard.store.base import MetricRow
from runyard.testing.processes import process_running, wait_for
from runyard.testing.store_helpers import FakeClock, accept_all, ex, plan

from .conftest import Yard, run_worker


class Flaky:
    """A store that raises StoreUnavailable from every method while ``down`` (counting refusals)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.down = False
        self.refused: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.store, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                self.refused[name] = self.refused.get(name, 0) + 1
                raise StoreUnavailable("the store is down (test)")
            return attr(*args, **kwargs)

        return call


class Recorder:
    """The two store methods Ingest uses, in memory, refusing while ``down``."""

    def __init__(self) -> None:
        self.down = False
        self.points: list[Metric] = []
        self.clears = 0

    def clear_metrics(self, key: str, *, owner: str | None = None) -> bool:
        if self.down:
            raise StoreUnavailable("down")
        self.clears += 1
        self.points.clear()
        return True

    def log_metric_rows(self, key: str, rows: Sequence[MetricRow], *, owner: str | None = None,
                        replace: bool = False) -> None:
        if self.down:
            raise StoreUnavailable("down")
        if replace:  # in the same write: nothing cleared while the store is down
            self.clears += 1
            self.points.clear()
        assert all(r[0] == key for r in rows)
        self.points += [Metric(name, value if value is not None else math.nan, step, when)
                        for _, name, step, value, when in rows]


def test_poll_moves_on_only_once_the_store_took_the_points(tmp_path: Path) -> None:
    metrics, log = tmp_path / "metrics.jsonl", tmp_path / "log"
    metrics.write_bytes(b"old attempt\n")  # before this attempt's offset: never read
    start = metrics.stat().st_size
    from runyard.execute.extract import Rule
    from runyard.spec.types import MetricSpec

    tracked = Tracked(key="k", folder=str(tmp_path), metrics=Tail(str(metrics), start), log=Tail(str(log)),
                      rules=(Rule.of(MetricSpec("acc", "s", regex=r"acc (\d+)")),), after=())
    store = Recorder()
    ingest = Ingest(store, chunk=64)  # type: ignore[arg-type]
    ingest.start(tracked)
    with open(metrics, "ab") as handle:
        handle.write(b"".join(b'{"step": %d, "loss": %d}\n' % (i, i) for i in range(10)))
    log.write_text("acc 1\nacc 2\nacc 3 (no newline yet)")
    store.down = True
    assert ingest.poll() is False
    assert tracked.metrics.offset == start and tracked.log is not None and tracked.log.offset == 0
    store.down = False
    while ingest.poll() or tracked.metrics.offset < metrics.stat().st_size:
        pass  # chunks of 64 bytes: several polls
    assert [p.step for p in store.points if p.name == "loss"] == list(range(10))
    assert [(p.value, p.step) for p in store.points if p.name == "acc"] == [(1, 0), (2, 1)]
    store.down = True
    try:
        ingest.finish("k")
        raise AssertionError("finish must raise while the store is down")
    except StoreUnavailable:
        pass
    store.down = False
    assert ingest.finish("k") == []
    assert [(p.value, p.step) for p in store.points if p.name == "acc"] == [(1, 0), (2, 1), (3, 2)]
    assert len(store.points) == 13 and store.clears == 1 and ingest.tracked == {}


def test_an_attempt_taken_over_stores_nothing_more(tmp_path: Path) -> None:
    """Once another worker took the execution over, the old attempt's ingest stops: its later lines (and
    whatever the new attempt appends to the shared metrics file) never reach the store through it."""
    clock = FakeClock()
    a = ex(tmp_path, "a", retries=1)
    with open_store(f"sqlite:///{tmp_path}/runyard.db", clock=clock) as store:
        store.submit(plan(tmp_path, a))
        store.claim("w1", accept_all, limit=1, lease_seconds=10)
        metrics = tmp_path / "metrics.jsonl"
        metrics.write_bytes(b'{"step": 0, "loss": 1}\n')
        old = Ingest(store, owner="w1")
        old.start(Tracked(key=a.key, folder=str(tmp_path), metrics=Tail(str(metrics)), log=None, rules=(), after=()))
        old.poll()
        assert [p.value for p in store.metric_points(a.key)] == [1.0]
        clock.advance(11)
        assert store.reap() == [a.key]
        store.claim("w2", accept_all, limit=1)
        new = Ingest(store, owner="w2")
        new.start(Tracked(key=a.key, folder=str(tmp_path), metrics=Tail(str(metrics), metrics.stat().st_size),
                          log=None, rules=(), after=()))
        with open(metrics, "ab") as handle:
            handle.write(b'{"step": 0, "loss": 5}\n{"step": 1, "loss": 6}\n')
        assert new.finish(a.key) == []
        old.poll()  # refused: no longer tracked
        assert old.tracked == {}
        with open(metrics, "ab") as handle:
            handle.write(b'{"step": 2, "loss": 7}\n')
        old.start(Tracked(key=a.key, folder=str(tmp_path), metrics=Tail(str(metrics)), log=None, rules=(), after=()))
        with pytest.raises(LeaseLost):
            old.finish(a.key)
        assert old.tracked == {}
        assert [(p.step, p.value) for p in store.metric_points(a.key)] == [(0, 5.0), (1, 6.0)]


STEP = r'''
import os, time, runyard
with open("step.pid", "w") as handle:
    handle.write(str(os.getpid()))
for i in range(3):
    runyard.log(loss=float(i), step=i)
deadline = time.time() + 30
while not os.path.exists("go") and time.time() < deadline:
    time.sleep(0.02)
for i in range(3, 6):
    runyard.log(loss=float(i), step=i)
print("acc = 9", flush=True)
'''


def test_the_store_down_during_a_step_loses_nothing_once_it_is_back(yard: Yard) -> None:
    yard.file("step.py", STEP)
    yard.file("runyard.yaml", """
        experiment: down
        steps:
          train: python step.py
          after: 'true'
        metrics:
          acc: {step: train, regex: 'acc = (\\d+)'}
        """)
    real = yard.submit()
    flaky = Flaky(real)
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(worker=run_worker(flaky, "down", metrics_interval=0.1)))
    thread.start()
    try:
        key = wait_for(lambda: [ex.key for ex in real.executions("down") if ex.step == "train"
                                and len(real.metric_points(ex.key)) == 3], what="the first 3 points")[0]
        flaky.down = True
        (yard.root / "go").write_text("")
        wait_for(lambda: flaky.refused.get("log_metric_rows", 0) >= 1, what="the worker trying to store the rest")
        step_pid = int((yard.root / "step.pid").read_text())
        wait_for(lambda: not process_running(step_pid), what="the step to exit")  # its points are only in the file
        assert len(real.metric_points(key)) == 3
        flaky.down = False
        thread.join(30)
        assert not thread.is_alive()
        assert result["worker"].result.exit_code == 0
        assert sorted(p.step for p in real.metric_points(key, "loss")) == list(range(6))
        assert [p.value for p in real.metric_points(key, "acc")] == [9.0]
        assert real.metric_summaries([key])[key]["loss"].count == 6
        assert {str(ex.status) for ex in real.executions("down")} == {"done"}
    finally:
        flaky.down = False
        (yard.root / "go").write_text("")
        thread.join(30)
        real.close()
