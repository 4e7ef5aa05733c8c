"""The store contract's part on past runs: tags and notes, removing runs and executions, restoring what a
home's folders recorded (see :mod:`runyard.testing.store_contract`, whose ``StoreContract`` combines every part)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from runyard.errors import RunNotFound, StoreError
from runyard.model import Metric, Run, Status
from runyard.store.base import Restored, Store
from runyard.testing.store_contract_state import _Contract
from runyard.testing.store_helpers import ex, plan, run_to_done

D = Status.DONE


def _two_runs(store: Store, tmp_path: Path) -> tuple[list[Run], list[str]]:
    """Two runs sharing a ``prep`` execution, each with its own ``train``; every execution done."""
    prep = ex(tmp_path, "prep")
    t1, t2 = ex(tmp_path, "t1", [prep], step="train"), ex(tmp_path, "t2", [prep], step="train")
    runs = [Run("r1" + "0" * 62, "exp", "one", {"x": 1}, (("prep", prep.key), ("train", t1.key)), "/f/one"),
            Run("r2" + "0" * 62, "exp", "two", {"x": 2}, (("prep", prep.key), ("train", t2.key)), "/f/two")]
    store.submit(plan(tmp_path, prep, t1, t2, runs=runs))
    for k in (prep.key, t1.key, t2.key):
        run_to_done(store, "w", k)
    return runs, [prep.key, t1.key, t2.key]


class PastContract(_Contract):
    def test_tags_and_notes(self, store: Store, tmp_path: Path) -> None:
        runs, _ = _two_runs(store, tmp_path)
        one = runs[0].id
        assert store.tag(one, ["baseline", "paper"]) == ("baseline", "paper")
        assert store.tag(one, ["baseline", "ablation"]) == ("ablation", "baseline", "paper")
        assert store.tag(one, ["paper", "missing"], remove=True) == ("ablation", "baseline")
        store.set_note(one, "lr too high?")
        assert store.run_labels("exp") == {one: (("ablation", "baseline"), "lr too high?")}
        record = store.run("one")
        assert (record.tags, record.note) == (("ablation", "baseline"), "lr too high?")
        assert store.run("two").tags == ()
        store.submit(plan(tmp_path, *[store.execution(k).to_step_exec() for _, k in record.steps], runs=runs[:1]))
        assert store.run("one").tags == ("ablation", "baseline"), "a new submit keeps tags"
        store.set_note(one, "")
        assert store.run_labels("exp") == {one: (("ablation", "baseline"), "")}
        with pytest.raises(RunNotFound):
            store.tag("f" * 64, ["x"])
        with pytest.raises(StoreError, match="bad tag"):
            store.tag(one, ["two words"])

    def test_remove_runs_keeps_shared_executions(self, store: Store, tmp_path: Path) -> None:
        runs, (prep, t1, t2) = _two_runs(store, tmp_path)
        store.log_metrics(t1, [Metric("loss", 1.0, 1)])
        removed = store.remove_runs([runs[0].id])
        assert removed.runs == (runs[0].id,)
        assert [k for k, _ in removed.executions] == [t1], "prep is shared with run two"
        assert dict(removed.executions)[t1] == store.execution(t2).folder.replace(t2[:12], t1[:12])
        assert [r.name for r in store.runs("exp")] == ["two"]
        assert store.metric_points(t1) == [] and store.metric_summaries([t1]) == {}
        with pytest.raises(RunNotFound):
            store.execution(t1)
        removed = store.remove_runs([runs[1].id])
        assert sorted(k for k, _ in removed.executions) == sorted([prep, t2])
        assert store.executions("exp") == []

    def test_remove_refuses_runs_in_use(self, store: Store, tmp_path: Path) -> None:
        a = ex(tmp_path, "a")
        store.submit(plan(tmp_path, a))
        (run,) = store.runs("exp")
        with pytest.raises(StoreError, match="ready"):
            store.remove_runs([run.id])
        assert [r.id for r in store.runs("exp")] == [run.id] and store.execution(a.key).status == Status.READY

    def test_remove_executions_only_unlinked(self, store: Store, tmp_path: Path) -> None:
        runs, (prep, t1, _) = _two_runs(store, tmp_path)
        assert store.remove_executions([prep, t1]).executions == ()
        store.submit(plan(tmp_path, store.execution(prep).to_step_exec(), runs=[dataclasses.replace(
            runs[0], steps=(("prep", prep),))]))  # run one no longer links its train execution
        assert [k for k, _ in store.remove_executions([prep, t1]).executions] == [t1]

    def test_restore_writes_back_what_was_recorded(self, store: Store, tmp_path: Path) -> None:
        runs, keys = _two_runs(store, tmp_path)
        store.tag(runs[0].id, ["baseline"])
        store.set_note(runs[1].id, "odd")
        experiment = store.experiment("exp")
        records = store.runs("exp")
        execs = store.executions("exp")
        store.remove_runs([r.id for r in runs])
        store.restore(Restored(experiment, tuple(records), tuple(execs)))
        assert store.experiment("exp") == experiment
        assert store.runs("exp") == records
        again = {x.key: x for x in store.executions("exp")}
        assert sorted(again) == sorted(keys)
        for x in execs:
            assert dataclasses.replace(again[x.key], seq=0) == dataclasses.replace(x, seq=0, lease_expires=None)
        store.restore(Restored(experiment, tuple(records), tuple(execs)))  # again: replaced, not doubled
        assert len(store.runs("exp")) == 2 and len(store.executions("exp")) == 3
        assert store.results("exp").runs["status"] is not None
