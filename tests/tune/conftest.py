"""Helpers for the tuning tests: a spec folder under ``tmp_path`` with its home beside it, ``runyard``
run as a real subprocess (the console script next to ``sys.executable``), and the store read back."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from runyard.store import Store, open_store
from runyard.store.trials import TrialRow, TrialStore
from runyard.testing.processes import Proc

pytest.importorskip("optuna", reason="tuning needs optuna: pip install 'runyard[tune]'")

RUNYARD = str(Path(sys.executable).with_name("runyard"))

# the known function: a 2-D quadratic where y exists only in branch b; its optimum, 0, is at
# branch=b, x=1, y=2 (branch a cannot go below 1). The step fails if y reaches branch a.
QUADRATIC_PY = '''
def quad(x: float = 0.0, branch: str = "a", y: float | None = None) -> dict:
    if branch == "a":
        assert y is None, "y passed outside its branch"
        return {"loss": (x - 1.0) ** 2 + 1.0}
    return {"loss": (x - 1.0) ** 2 + (y - 2.0) ** 2}
'''

QUADRATIC_SPEC = '''
experiment: quad
steps:
  f: {call: "quadratic:quad"}
tune:
  params:
    x: {uniform: [-3, 3]}
    branch: {choice: [a, b]}
    y: {uniform: [-3, 3], when: {branch: b}}
  objective: {metric: loss, direction: minimize}
  trials: 60
  seed: 8
'''


@dataclass
class Project:
    folder: Path
    store_url: str | None = None

    @property
    def home(self) -> Path:
        return self.folder / ".runyard"

    def write(self, name: str, text: str) -> Path:
        path = self.folder / name
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    def env(self, **extra: str) -> dict[str, str]:
        env = {**os.environ, "RUNYARD_HOME": str(self.home), **extra}
        env.pop("RUNYARD_STORE", None)
        if self.store_url:
            env["RUNYARD_STORE"] = self.store_url
        return env

    def popen(self, *args: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen([RUNYARD, *args], cwd=self.folder, env=self.env(**env), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)

    def cli(self, *args: str, timeout: float = 300, **env: str) -> Proc:
        started = time.monotonic()
        done = subprocess.run([RUNYARD, *args], cwd=self.folder, env=self.env(**env), text=True,
                              capture_output=True, timeout=timeout)
        return Proc([RUNYARD, *args], done.returncode, done.stdout, done.stderr, time.monotonic() - started)

    def store(self) -> Store:
        return open_store(self.store_url or f"sqlite:///{self.home / 'runyard.db'}")

    def trials(self, experiment: str) -> list[TrialRow]:
        with self.store() as store:
            reader: TrialStore = store  # type: ignore[assignment]
            return reader.tune_trials(experiment)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    folder = tmp_path / "proj"
    folder.mkdir()
    return Project(folder)
