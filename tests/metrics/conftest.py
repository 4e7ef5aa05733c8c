"""Helpers of the metrics tests: a spec folder and a home under tmp_path, ``runyard`` as a real
subprocess (the console script beside ``sys.executable``), the store of that home, and an in-process
worker over it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from runyard.execute.slots import SlotPool
from runyard.execute.worker import Worker
from runyard.model import Metric
from runyard.store import ExecRecord, Store, open_store
from runyard.testing.processes import Proc
from runyard.testing.workers import drain, submit_spec

RUNYARD = str(Path(sys.executable).with_name("runyard"))


@dataclass
class Yard:
    root: Path  # the spec folder
    home: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def file(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
        env.update(RUNYARD_HOME=str(self.home), PYTHONDONTWRITEBYTECODE="1")
        return env

    def run(self, *args: str, timeout: float = 300) -> Proc:
        argv = [RUNYARD, *args]
        done = subprocess.run(argv, cwd=self.root, env=self.env(), capture_output=True, text=True,
                              timeout=timeout, check=False)
        return Proc(argv, done.returncode, done.stdout, done.stderr)

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([RUNYARD, *args], cwd=self.root, env=self.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append(proc)
        return proc

    @contextlib.contextmanager
    def store(self) -> Iterator[Store]:
        store = open_store(f"sqlite:///{self.home / 'runyard.db'}")
        try:
            yield store
        finally:
            store.close()

    def execution(self, step: str, experiment: str | None = None) -> ExecRecord:
        with self.store() as store:
            found = [ex for ex in store.executions(experiment) if ex.step == step]
        assert len(found) == 1, found
        return found[0]

    def points(self, step: str, name: str | None = None) -> list[Metric]:
        key = self.execution(step).key
        with self.store() as store:
            return store.metric_points(key, name)

    def series(self, step: str, name: str) -> list[float]:
        return [p.value for p in sorted(self.points(step, name), key=lambda p: (p.time or 0, p.step or 0))]

    def submit(self, spec: str = "runyard.yaml") -> Store:
        """Submit the spec to the home's store (for an in-process worker); the caller closes the store."""
        return submit_spec(self.root / spec, self.home)


def run_worker(store: Any, experiment: str, *, timeout: float = 30, **options: Any) -> Worker:
    """``Worker.run(burst=True)`` in a thread, failing the test if it takes longer than ``timeout``."""
    worker = Worker(store, SlotPool([], jobs=2), experiment=experiment, **options)
    drain(worker, timeout)
    return worker


@pytest.fixture
def yard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Yard]:
    monkeypatch.delenv("RUNYARD_HOME", raising=False)
    monkeypatch.delenv("RUNYARD_STORE", raising=False)
    root = tmp_path / "proj"
    root.mkdir()
    made = Yard(root=root, home=tmp_path / "home")
    try:
        yield made
    finally:
        for proc in made.started:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, 9)
            proc.wait(10)
            if proc.stdout is not None:
                proc.stdout.close()
