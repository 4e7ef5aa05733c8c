"""One real home per test module: a small sweep run by a real ``runyard run`` process over a SQLite
store. Its steps log a loss curve and a final accuracy with ``runyard.log``; the run of the odd
``tag`` (markup in a param value) fails its ``check`` step, so the home also holds a failure."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

RUNYARD = str(Path(sys.executable).with_name("runyard"))
ODD = "<img src=x onerror=alert(1)>"

SPEC = f"""
experiment: study
params:
  lr: 0.1
  seed: 1
  tag: plain
steps:
  train: python step.py train {{lr}} {{seed}}
  check: python step.py check {{tag}} {{train.out}}
metrics:
  acc: {{mode: max}}
  loss: {{mode: min}}
sweeps:
  grid:
    lr: [0.1, 0.3]
    seed: [1, 2]
  odd:
    tag: ['{ODD}']
"""

STEP = """
import sys

import runyard

if sys.argv[1] == "train":
    lr, seed = float(sys.argv[2]), int(sys.argv[3])
    loss = 1.0
    for epoch in range(6):
        loss = loss * (1 - lr) + 0.01 * seed
        runyard.log(loss=loss, step=epoch)
    runyard.log(acc=round(1 - loss, 6))
    print("trained", lr, seed)
else:
    print("checking", sys.argv[2])
    sys.exit(3 if "<" in sys.argv[2] else 0)
"""


@dataclass
class Home:
    folder: Path
    home: Path
    run: subprocess.CompletedProcess[str]

    def quick(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``runyard ARGS`` in this process (click's runner): for answers that need no new process."""
        from click.testing import CliRunner

        from runyard.cli.main import cli

        result = CliRunner().invoke(cli, list(args), env={"RUNYARD_HOME": str(self.home), "RUNYARD_STORE": None})
        return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)

    def cli(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "RUNYARD_HOME": str(self.home)}
        env.pop("RUNYARD_STORE", None)
        return subprocess.run([RUNYARD, *args], cwd=cwd or self.folder, env=env, capture_output=True, text=True,
                              timeout=120, check=False)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    folder = tmp_path_factory.mktemp("study")
    (folder / "runyard.yaml").write_text(textwrap.dedent(SPEC))
    (folder / "step.py").write_text(STEP)
    home = folder / ".runyard"
    env = {**os.environ, "RUNYARD_HOME": str(home)}
    env.pop("RUNYARD_STORE", None)
    proc = subprocess.run([RUNYARD, "run", "-j", "2"], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the odd run's check fails
    yield Home(folder, home, proc)
