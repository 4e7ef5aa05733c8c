"""The read-only role of the store contract: ``opener(url, readonly=True)`` must return a
:class:`~runyard.store.roles.ResultsReader` that answers every query as the store does and refuses
every write (:data:`~runyard.store.roles.WRITE_METHODS`) with StoreError, changing nothing.
Part of :class:`runyard.testing.store_contract.StoreContract`."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runyard.errors import StoreError
from runyard.model import Metric, Status, WorkerInfo
from runyard.store.base import Restored, Store
from runyard.store.checks import sqlite_file
from runyard.store.roles import WRITE_METHODS
from runyard.testing.store_contract_state import _Contract
from runyard.testing.store_helpers import FakeClock, accept_all, ex, open_by, plan, run_to_done

R, D = Status.READY, Status.DONE


def _filled(store: Store, clock: FakeClock, tmp_path: Path) -> tuple[str, str]:
    """An experiment with a done step that reported metrics and a running one; returns their keys."""
    a = ex(tmp_path, "a")
    b = ex(tmp_path, "b", [a])
    store.submit(plan(tmp_path, a, b))
    store.register_worker(WorkerInfo("w", "h", 1))
    run_to_done(store, "w", a.key)
    store.log_metrics(a.key, [Metric("loss", 1.0, 0, clock()), Metric("loss", 0.5, 1, clock() + 1)])
    assert [r.key for r in store.claim("w", accept_all, limit=1)] == [b.key]
    return a.key, b.key


def _state(store: Store, keys: tuple[str, str]) -> tuple[Any, ...]:
    """Everything a write could change, as the store reads it."""
    return (store.executions(), store.runs(), store.counts(), [w.id for w in store.workers()],
            [store.metric_points(k) for k in keys], store.metric_summaries(keys), store.experiment("exp"))


def _files(url: str) -> dict[str, str]:
    """SQLite: the hash of the database file and of its -wal file (what a write would change)."""
    path = sqlite_file(url)
    if path is None:
        return {}
    found = {}
    for name in (path, path + "-wal"):
        if os.path.exists(name):
            with open(name, "rb") as file:
                found[name] = hashlib.sha256(file.read()).hexdigest()
    return found


class ReadOnlyContract(_Contract):
    def open_reader(self, url: str) -> Any:
        return open_by(self.opener, url, readonly=True)

    def test_the_reader_answers_as_the_store(self, store: Store, clock: FakeClock, tmp_path: Path) -> None:
        done, running = _filled(store, clock, tmp_path)
        reader = self.open_reader(store.url)
        try:
            assert reader.experiments() == store.experiments() == ["exp"]
            assert reader.experiment("exp") == store.experiment("exp")
            assert reader.runs("exp") == store.runs("exp")
            (run,) = store.runs("exp")
            assert reader.run(run.name) == run
            assert reader.executions("exp") == store.executions("exp")
            assert reader.execution(done[:10]) == store.execution(done)
            assert reader.counts("exp") == store.counts("exp")
            assert reader.holders([done, running]) == store.holders([done, running]) == {
                done: (D, "w"), running: (Status.RUNNING, "w")}
            assert [w.id for w in reader.workers()] == ["w"]
            assert reader.metric_points(done) == store.metric_points(done)
            assert reader.metric_summaries([done]) == store.metric_summaries([done])
            assert reader.metric_series("exp", "loss") == store.metric_series("exp", "loss")
            store.tag(run.id, ["seen"])
            assert reader.run_labels("exp") == store.run_labels("exp") == {run.id: (("seen",), "")}
            mine, theirs = reader.results("exp", stats=("last", "min")), store.results("exp", stats=("last", "min"))
            assert list(mine.runs["id"]) == list(theirs.runs["id"]) == [run.id]
            assert list(mine.summaries["min"]) == list(theirs.summaries["min"]) == [0.5]
        finally:
            reader.close()

    def test_the_reader_sees_later_writes(self, store: Store, clock: FakeClock, tmp_path: Path) -> None:
        _, running = _filled(store, clock, tmp_path)
        with self.open_reader(store.url) as reader:
            assert reader.counts("exp")[Status.RUNNING] == 1
            store.finish(running, "w", status=D, exit_code=0)
            assert reader.counts("exp")[D] == 2 and reader.execution(running).status == D

    def test_every_write_is_refused_and_nothing_changes(self, store: Store, clock: FakeClock,
                                                        tmp_path: Path) -> None:
        done, running = _filled(store, clock, tmp_path)
        (run_id,) = [r.id for r in store.runs("exp")]
        other = ex(tmp_path, "c")
        writes: dict[str, Callable[[Any], object]] = {
            "submit": lambda r: r.submit(plan(tmp_path, other, experiment="exp")),
            "claim": lambda r: r.claim("w2", accept_all, limit=1),
            "started": lambda r: r.started(running, "w", pid=2, pgid=2, host="h2"),
            "finish": lambda r: r.finish(running, "w", status=D, exit_code=0),
            "set_status": lambda r: r.set_status(running, R, expected=Status.RUNNING),
            "reap": lambda r: r.reap(clock() + 10**6),
            "reap_worker": lambda r: r.reap_worker("w"),
            "interrupt": lambda r: r.interrupt("w"),
            "register_worker": lambda r: r.register_worker(WorkerInfo("w2", "h", 2)),
            "heartbeat": lambda r: r.heartbeat("w"),
            "unregister_worker": lambda r: r.unregister_worker("w"),
            "log_metrics": lambda r: r.log_metrics(done, [Metric("loss", 9.0, 2, clock())]),
            "log_metric_rows": lambda r: r.log_metric_rows(running, [(running, "acc", 0, 1.0, clock())],
                                                           owner="w"),
            "clear_metrics": lambda r: r.clear_metrics(done),
            "pause": lambda r: r.pause("exp"),
            "cancel": lambda r: r.cancel("exp"),
            "set_priority": lambda r: r.set_priority("exp", 5),
            "tag": lambda r: r.tag(run_id, ["baseline"]),
            "set_note": lambda r: r.set_note(run_id, "a note"),
            "remove_runs": lambda r: r.remove_runs([run_id]),
            "remove_executions": lambda r: r.remove_executions([done]),
            "restore": lambda r: r.restore(Restored(store.experiment("exp"), tuple(store.runs("exp")), ())),
        }
        assert sorted(writes) == sorted(WRITE_METHODS), "every write method of the store is tried"
        before, files = _state(store, (done, running)), _files(store.url)
        with self.open_reader(store.url) as reader:
            for name, write in writes.items():
                with pytest.raises(StoreError, match="read-only"):
                    write(reader)
                assert _state(store, (done, running)) == before, f"{name} wrote through a read-only store"
        assert _files(store.url) == files
