"""``runyard reindex``: a finished multi-step sweep with metrics, tags and a rerun loses nothing when its
store is deleted or damaged; an unreadable folder is reported and the others recovered."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
from tests.past.conftest import Yard, finished_sweep

from runyard.layout import ExecutionPaths


@pytest.fixture(scope="module")
def yard(tmp_path_factory: pytest.TempPathFactory) -> Yard:
    yard = finished_sweep(tmp_path_factory.mktemp("reindex"))
    yard.ok("tag", "lr=0.2", "baseline")
    yard.ok("note", "lr=0.3,seed=2", "odd one")
    yard.ok("rerun", "lr=0.2", "lr=0.15")
    return yard


def tables(yard: Yard) -> list[str]:
    return [yard.ok("compare"), yard.ok("compare", "--over", "seed"), yard.ok("ls", "past"),
            yard.ok("compare", "--cols", "name,status,loss.min,loss.count,acc,started,ended,duration",
                    "--format", "csv"), yard.ok("show", "lr=0.15")]


def test_a_deleted_store_comes_back_whole(yard: Yard) -> None:
    before = tables(yard)
    with yard.store() as store:
        runs = store.runs("past")
        execs = store.executions("past")
        points = {x.key: store.metric_points(x.key) for x in execs}
    for suffix in ("", "-wal", "-shm"):
        path = yard.home / f"runyard.db{suffix}"
        if path.exists():
            path.unlink()
    out = yard.ok("reindex")
    assert "reindexed 1 experiment(s) (past): 7 run(s), 15 step execution(s)" in out
    assert tables(yard) == before
    with yard.store() as store:
        # the same runs in the same order; ``created`` is when run.json was first written, not the store's time
        assert [dataclasses.replace(r, created=0) for r in store.runs("past")] == \
               [dataclasses.replace(r, created=0) for r in runs]
        again = {x.key: x for x in store.executions("past")}
        for x in execs:
            mine = again[x.key]
            assert (mine.status, mine.exit_code, mine.started, mine.ended, mine.params, mine.needs, mine.command) == \
                   (x.status, x.exit_code, x.started, x.ended, x.params, x.needs, x.command)
            assert [(p.name, p.value, p.step) for p in store.metric_points(x.key)] == \
                   [(p.name, p.value, p.step) for p in points[x.key]]
    assert "everything is cached" in yard.ok("run") or "cached" in yard.ok("run")


def test_a_damaged_store_and_a_damaged_meta_json(yard: Yard) -> None:
    with yard.store() as store:
        lost = store.run("lr=0.3")
        test_folder = dict((n, store.execution(k).folder) for n, k in lost.steps)["test"]
    Path(ExecutionPaths(test_folder).meta).write_text('{"key": ')  # cut short
    for suffix in ("-wal", "-shm"):
        path = yard.home / f"runyard.db{suffix}"
        if path.exists():
            path.unlink()
    (yard.home / "runyard.db").write_bytes(b"not a database at all")
    done = yard.run("reindex")
    assert done.code == 0, done.stderr
    assert "moved to" in done.stderr and "a new store is built" in done.stderr
    assert f"{ExecutionPaths(test_folder).meta}: cannot be read" in done.stderr
    assert "run lr=0.3: the folder of its step(s) test is missing or damaged; the run is skipped" in done.stderr
    assert "Traceback" not in done.stderr
    assert "7 run(s)" not in done.stdout and "6 run(s), 14 step execution(s)" in done.stdout
    assert [p.name for p in yard.home.iterdir() if p.name.startswith("runyard.db.damaged-")]
    rows = {r["name"]: r for r in json.loads(yard.ok("compare", "--format", "json"))}
    assert "lr=0.3" not in rows and rows["lr=0.2"]["tags"] == "baseline" and len(rows) == 6
    Path(ExecutionPaths(test_folder).meta).unlink()
    yard.ok("run")  # the run whose step folder was damaged runs that step again
    assert "lr=0.3" in {r["name"] for r in json.loads(yard.ok("compare", "--format", "json"))}
    yard.fails("reindex", "--home", str(yard.root / "nowhere"), match="no runyard home at")
    assert os.path.isdir(yard.home)
