"""Helpers for the tests of working with past runs: a spec folder with a home, ``runyard`` as a real
subprocess for what runs steps or rebuilds the store (``run``, ``rerun``, ``reindex``, and wherever a test
asks for it) and in-process through click's runner for the rest (the same command, without a Python start
and its imports each time), and a finished multi-step sweep with metrics (one per test module)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from runyard.cli.main import cli
from runyard.store import Store, open_store

RUNYARD = str(Path(sys.executable).with_name("runyard"))
#: commands always run as a subprocess (they run steps, or rebuild the store)
IN_A_PROCESS = ("run", "rerun", "reindex")

#: prep once per `n`, train per lr × seed (a metric in the log, a series through runyard.log), test per run
SWEEP = """
experiment: past
params: {n: 3, lr: 0.1, seed: 1}
steps:
  prep: echo prepared {n}
  train: python train.py {lr} {seed}
  test: python score.py {lr} {seed}
metrics:
  acc: {step: test, regex: 'acc = ([0-9.]+)'}
  loss: {step: train, mode: min}
sweeps:
  grid: {lr: [0.1, 0.2, 0.3], seed: [1, 2]}
"""
TRAIN = """
import sys
import runyard
lr, seed = float(sys.argv[1]), int(sys.argv[2])
for epoch in range(3):
    runyard.log(loss=round(lr * seed / (epoch + 1), 4), step=epoch)
"""
SCORE = """
import sys
lr, seed = float(sys.argv[1]), int(sys.argv[2])
print("acc =", round(1 - lr / seed, 4))
sys.exit(3 if "--exit-if-2" in sys.argv and seed == 2 else 0)
"""


@contextlib.contextmanager
def _chdir(folder: Path) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


@dataclass
class Done:
    code: int
    stdout: str
    stderr: str


@dataclass
class Yard:
    root: Path
    home: Path

    def file(self, name: str, text: str) -> Path:
        path = self.root / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNYARD_", "MLFLOW_"))}
        env.update({"RUNYARD_HOME": str(self.home), "PYTHONDONTWRITEBYTECODE": "1", "COLUMNS": "200"})
        return env

    def run(self, *args: str, subprocess_: bool = False) -> Done:
        if subprocess_ or args[0] in IN_A_PROCESS:
            done = subprocess.run([RUNYARD, *args], cwd=self.root, env=self.env(), capture_output=True, text=True,
                                  timeout=300)
            return Done(done.returncode, done.stdout, done.stderr)
        env: dict[str, str | None] = {k: None for k in os.environ if k.startswith(("RUNYARD_", "MLFLOW_"))}
        env.update({"RUNYARD_HOME": str(self.home), "COLUMNS": "200"})
        with _chdir(self.root):
            result = CliRunner().invoke(cli, list(args), env=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception  # a traceback: a bug, never a user mistake
        return Done(result.exit_code, result.stdout, result.stderr)

    def ok(self, *args: str, subprocess_: bool = False) -> str:
        done = self.run(*args, subprocess_=subprocess_)
        assert done.code == 0, f"runyard {' '.join(args)}: exit {done.code}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def fails(self, *args: str, match: str, code: int = 2) -> str:
        """``runyard ARGS`` fails with ``code`` and one message naming ``match``, no traceback."""
        done = self.run(*args)
        assert done.code == code, f"runyard {' '.join(args)}: exit {done.code}\n{done.stdout}\n{done.stderr}"
        assert match in done.stderr, done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        return done.stderr

    def store(self) -> Store:
        return open_store(f"sqlite:///{self.home / 'runyard.db'}")


def finished_sweep(root: Path) -> Yard:
    """A folder with the sweep above, run to the end (6 runs, 1 prep, 6 trains, 6 tests)."""
    root.mkdir(parents=True, exist_ok=True)
    yard = Yard(root, root / ".runyard")
    yard.file("runyard.yaml", SWEEP)
    yard.file("train.py", TRAIN)
    yard.file("score.py", SCORE)
    yard.ok("run")
    return yard
