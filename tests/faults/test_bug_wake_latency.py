"""An idle ``runyard worker`` starts a submitted step promptly: 8 trials each on SQLite (its idle poll) and
on PostgreSQL (``LISTEN``/``NOTIFY``, and a submission whose NOTIFY is lost, which only the listening
worker's idle poll finds). Each trial's latency (the step's ``started`` in the store minus the moment the
submit began) is printed; the assertion is only that every trial started, within a generous 10 s (the
1 s promise is measured by ``bench/wake.py``, not asserted on a shared machine)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from runyard.spec import expand, load_spec
from runyard.spec.expand import Override
from runyard.store import Store, open_store

from .bug_cli import RUNYARD

SPEC = "experiment: wake\nparams: {trial: 0}\nsteps:\n  touch: python -c pass {trial}\n"
TRIALS = 8
BOUND = 10.0  # seconds: "it started at all"


def _until(check: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.005)


def _listening(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'runyard-listen' "
                           "AND datname = current_database() AND query LIKE 'LISTEN%'").fetchone()
    return bool(row and row[0])


@pytest.fixture(params=["sqlite", "postgresql", "postgresql-lost-notify"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'home' / 'runyard.db'}"
        return
    server = request.getfixturevalue("pg_server")
    url = server.create_database()
    try:
        yield url
    finally:
        server.drop_database(url)


def _worker(folder: Path, url: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
    env.update(RUNYARD_HOME=str(folder / "home"), RUNYARD_STORE=url)
    return subprocess.Popen([RUNYARD, "worker", "--jobs", "1", "--gpus", "none"], cwd=folder, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _trial(store: Store, folder: Path, trial: int) -> float | None:
    plan = expand(load_spec(str(folder / "runyard.yaml")), home=str(folder / "home"),
                  overrides=(Override("trial", (trial,), f"trial={trial}"),))
    (key,) = [ex.key for ex in plan.executions]
    began = time.time()
    store.submit(plan)
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        (record,) = store.executions("wake", keys=[key])
        if record.started is not None:
            _until(lambda: str(store.executions("wake", keys=[key])[0].status) == "done", 30, "the step's end")
            return max(0.0, record.started - began)
        time.sleep(0.005)
    return None


def test_an_idle_worker_starts_each_submission(store_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "runyard.yaml").write_text(SPEC)
    store = open_store(store_url)
    lost = request.node.callspec.params["store_url"] == "postgresql-lost-notify"
    if lost:
        store.notify = lambda conn, payload: None  # type: ignore[method-assign]
    worker = _worker(tmp_path, store_url)
    try:
        _until(lambda: store.workers() or worker.poll() is not None, 30, "the worker to register")
        assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
        if store_url.startswith("postgresql"):
            _until(lambda: _listening(store_url), 30, "the worker's LISTEN")
        latencies = [_trial(store, tmp_path, trial) for trial in range(1, TRIALS + 1)]
    finally:
        worker.terminate()
        assert worker.wait(30) is not None
        store.close()
    seen = [x for x in latencies if x is not None]
    shown = " ".join("never" if x is None else f"{x:.3f}" for x in latencies)
    summary = f"wake latency ({store_url.split(':')[0]}{', NOTIFY lost' if lost else ''}): {shown}"
    if seen:
        summary += f"; median {statistics.median(seen):.3f} s, max {max(seen):.3f} s"
    print(summary, file=sys.stderr)
    assert len(seen) == TRIALS, summary
