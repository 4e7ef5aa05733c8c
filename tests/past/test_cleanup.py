"""``runyard rm`` and ``runyard gc``: dry runs with bytes, deleting with --yes, never what is in use or
shared, and a consistent home when a removal stops half way (one sweep shared by the module's tests)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.past.conftest import RUNYARD, Yard, finished_sweep

from runyard.app import cleanup
from runyard.layout import ExecutionPaths, removing
from runyard.model import Status
from runyard.testing.processes import wait_for


@pytest.fixture(scope="module")
def yard(tmp_path_factory: pytest.TempPathFactory) -> Yard:
    return finished_sweep(tmp_path_factory.mktemp("cleanup"))


def test_rm_is_a_dry_run_until_yes_and_keeps_shared_steps(yard: Yard) -> None:
    with yard.store() as store:
        doomed = [store.run(n) for n in ("default", "seed=2")]  # lr = 0.1
    folders = [d.folder for d in doomed]
    dry = yard.ok("rm", "--where", "lr = 0.1")
    assert "would remove 2 run(s), 4 step execution(s)" in dry and "add --yes" in dry
    assert all(os.path.isdir(f) for f in folders)
    done = yard.ok("rm", "--where", "lr = 0.1", "--yes")
    assert "removed 2 run(s), 4 step execution(s)" in done
    with yard.store() as store:
        names = {r.name for r in store.runs("past")}
        assert names.isdisjoint({"default", "seed=2"}) and len(names) == 4
        keys = {x.key for x in store.executions("past")}
    for run in doomed:
        assert not os.path.exists(run.folder)
        steps = dict(run.steps)
        assert steps["prep"] in keys, "prep is shared with the runs that stay"
        assert os.path.isdir(store_folder(yard, steps["prep"]))
        assert steps["train"] not in keys and not any(
            p.name == steps["train"][:12] for p in (yard.home / "past" / "steps" / "train").iterdir())
    yard.fails("rm", "default", match="no run matches 'default'")
    yard.fails("rm", "lr=0.2", "--where", "lr = 0.2", match="not both")


def store_folder(yard: Yard, key: str) -> str:
    with yard.store() as store:
        return store.execution(key).folder


def test_rm_refuses_a_run_in_use(yard: Yard, tmp_path: Path) -> None:
    release = tmp_path / "release"
    yard.file("hold.py", """
        import os, sys, time
        while not os.path.exists(sys.argv[1]):  # held until the test releases it
            time.sleep(0.02)
        """)
    yard.file("hold.yaml", """
        experiment: held
        params: {release: x}
        steps:
          hold: python hold.py {release}
        """)
    proc = subprocess.Popen([RUNYARD, "run", "hold.yaml", f"release={release}"], cwd=yard.root, env=yard.env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def running() -> bool:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            with yard.store() as store:
                return "held" in store.experiments() and store.counts("held")[Status.RUNNING] == 1
        wait_for(running, timeout=120, what="the held step to run")
        with yard.store() as store:
            (held,) = store.runs("held")
        yard.fails("rm", held.name, "-e", "held", "--yes", match="is in use: hold is running")
        with yard.store() as store:
            assert [r.name for r in store.runs("held")] == [held.name]
    finally:
        release.touch()
        assert proc.wait(timeout=120) == 0
    assert "removed 1 run(s), 1 step execution(s)" in yard.ok("rm", held.name, "-e", "held", "--yes")


def test_a_removal_stopped_half_way_leaves_a_consistent_home(yard: Yard) -> None:
    with yard.store() as store:
        run = store.run("lr=0.3,seed=2")
        removal = cleanup.plan_rm(store, [run])

        def stop() -> None:
            raise KeyboardInterrupt  # stopped right after the store's transaction

        with pytest.raises(KeyboardInterrupt):
            cleanup.execute(store, removal, after_store=stop)
        assert "lr=0.3,seed=2" not in {r.name for r in store.runs("past")}
    for folder in removal.executions.values():  # whole, not half deleted: the store no longer knows them
        assert os.path.isfile(ExecutionPaths(folder).meta)
    train = next(f for f in removal.executions.values() if "/train/" in f)
    os.rename(train, removing(train))  # and a folder deleted half way, as a kill in rmtree leaves it
    shutil.rmtree(os.path.join(removing(train), "out"))
    dry = yard.ok("gc")
    assert dry.count("folder the store does not know") == 3, dry  # the run folder, test, .removing-train
    assert "would remove 0 run(s), 0 step execution(s), 3 folder(s)" in dry
    assert "3 folder(s)" in yard.ok("gc", "--yes")
    assert not os.path.exists(run.folder) and not os.path.exists(removing(train))
    assert "would remove 0 run(s), 0 step execution(s): 0 B" in yard.ok("gc")
    yard.ok("run")  # the removed runs come back, run again
    with yard.store() as store:
        assert len(store.runs("past")) == 6


def test_gc_failed_and_older_than(yard: Yard) -> None:
    yard.file("flaky.yaml", """
        experiment: flaky
        params: {x: 1}
        steps:
          work: python score.py 0.1 {x} --exit-if-2
        sweeps:
          xs: {x: [1, 2]}
        """)
    assert yard.run("run", "flaky.yaml").code == 1
    dry = yard.ok("gc", "--failed")
    assert "run x=2 (" in dry and "of flaky: failed" in dry and "would remove 1 run(s), 1 step execution(s)" in dry
    assert "would remove 0 run(s)" in yard.ok("gc", "--older-than", "1000d")
    everything = yard.ok("gc", "--older-than", "0s", "--experiment", "flaky")
    assert "would remove 2 run(s), 2 step execution(s)" in everything
    assert "removed 1 run(s)" in yard.ok("gc", "--failed", "--yes")
    with yard.store() as store:
        assert [r.name for r in store.runs("flaky")] == ["default"]
        assert len(store.runs("past")) >= 4, "gc --failed leaves done runs alone"
    yard.fails("gc", "--older-than", "soon", match="--older-than 'soon'")
    yard.fails("gc", "--experiment", "flaki", match="did you mean 'flaky'")
