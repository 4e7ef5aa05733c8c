"""A spec folder and a home under ``tmp_path`` for the metrics fault tests: ``runyard`` as a real
subprocess (the console script beside ``sys.executable``), the home's SQLite store, and the files of
an execution folder."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runyard.model import Metric
from runyard.store import ExecRecord, Store, open_store
from runyard.testing.processes import Proc

RUNYARD = str(Path(sys.executable).with_name("runyard"))


@dataclass
class Yard:
    root: Path  # the spec folder
    home: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def file(self, name: str, text: str) -> Path:
        path = self.root / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
        env.update(RUNYARD_HOME=str(self.home), PYTHONDONTWRITEBYTECODE="1")
        return env

    def run(self, *args: str, timeout: float = 120) -> Proc:
        argv = [RUNYARD, *args]
        began = time.monotonic()
        done = subprocess.run(argv, cwd=self.root, env=self.env(), capture_output=True, text=True,
                              timeout=timeout, check=False)
        return Proc(argv, done.returncode, done.stdout, done.stderr, time.monotonic() - began)

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([RUNYARD, *args], cwd=self.root, env=self.env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        self.started.append(proc)
        return proc

    @contextlib.contextmanager
    def store(self) -> Iterator[Store]:
        store = open_store(f"sqlite:///{self.home / 'runyard.db'}")
        try:
            yield store
        finally:
            store.close()

    def execution(self, step: str) -> ExecRecord:
        with self.store() as store:
            found = [ex for ex in store.executions() if ex.step == step]
        assert len(found) == 1, found
        return found[0]

    def points(self, step: str, name: str | None = None) -> list[Metric]:
        key = self.execution(step).key
        with self.store() as store:
            return sorted(store.metric_points(key, name), key=lambda p: (p.name, p.step or 0))

    def cleanup(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def make_yard(tmp_path: Path) -> Yard:
    root = tmp_path / "proj"
    root.mkdir()
    return Yard(root=root, home=tmp_path / "home")


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it holds (a bound, not a synchronisation by time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
