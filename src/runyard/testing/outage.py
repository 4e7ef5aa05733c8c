"""A small sweep for the tests of store faults: real ``runyard`` processes on a real store that goes away.

:class:`Sweep` is a spec folder whose ``runs`` runs have one step, ``work``, running ``step.py``: it appends
``start I PID PGID`` to the evidence file, waits while a ``HOLD`` file exists in the spec folder, prints
``score=I`` (a regex metric of the spec), and appends ``end I`` just before it exits 0. Every attempt of
every step is on record whatever happens to the worker, so a step run twice shows as two ``start`` lines.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runyard.layout import META

RUNYARD = str(Path(sys.executable).with_name("runyard"))

STEP_PY = r'''
import os, sys, time

def note(text):
    fd = os.open({evidence!r}, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (text + "\n").encode())
    finally:
        os.close(fd)

I = sys.argv[1]
note(f"start {{I}} {{os.getpid()}} {{os.getpgid(0)}}")
while os.path.exists("HOLD"):
    time.sleep(0.02)
print(f"score={{I}}", flush=True)
note(f"end {{I}}")
'''

SPEC = """
experiment: outage
params: {{i: 0}}
steps:
  work:
    run: python step.py {{i}}
metrics:
  score: {{step: work, regex: 'score=([0-9.]+)'}}
sweeps:
  all: {{i: [{values}]}}
"""


@dataclass
class Sweep:
    root: Path  # the spec folder
    url: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def evidence(self) -> Path:
        return self.root.parent / "evidence.txt"

    def write(self, runs: int, *, hold: bool = True) -> None:
        """The spec of ``runs`` runs and its step; with ``hold``, the steps wait until :meth:`release`."""
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "step.py").write_text(STEP_PY.format(evidence=str(self.evidence)), encoding="utf-8")
        values = ", ".join(str(i) for i in range(runs))
        (self.root / "runyard.yaml").write_text(SPEC.format(values=values), encoding="utf-8")
        if hold:
            (self.root / "HOLD").touch()

    def release(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.root / "HOLD").unlink()

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
        env.update(RUNYARD_HOME=str(self.home), PYTHONDONTWRITEBYTECODE="1")
        return env

    def runyard(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([RUNYARD, *args, "--store", self.url], cwd=self.root, env=self.env(), text=True,
                              capture_output=True, timeout=timeout, check=False)

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        """``runyard ARGS --store URL`` in its own session, its output (stdout and stderr) in a file."""
        out = open(self.root.parent / f"out-{len(self.procs)}.txt", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen([RUNYARD, *args, "--store", self.url], cwd=self.root, env=self.env(), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        self.procs.append(proc)
        return proc

    def output(self, proc: subprocess.Popen[bytes]) -> str:
        path = self.root.parent / f"out-{self.procs.index(proc)}.txt"
        return path.read_text(encoding="utf-8", errors="replace")

    def wait(self, proc: subprocess.Popen[bytes], timeout: float) -> int:
        """The exit code of ``proc``; fails (killing it) when it has not exited within ``timeout`` s."""
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill_all()
            raise AssertionError(f"still running after {timeout} s:\n{self.output(proc)}") from None

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        for pgid in self.step_groups():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)

    # --- what happened -------------------------------------------------------------------------------
    def lines(self, event: str) -> list[list[str]]:
        if not self.evidence.exists():
            return []
        return [line.split()[1:] for line in self.evidence.read_text(encoding="utf-8").splitlines()
                if line.split()[0] == event]

    def started(self) -> list[int]:
        return [int(fields[0]) for fields in self.lines("start")]

    def ended(self) -> list[int]:
        return [int(fields[0]) for fields in self.lines("end")]

    def step_groups(self) -> list[int]:
        return [int(fields[2]) for fields in self.lines("start")]

    def metas(self) -> dict[int, dict[str, Any]]:
        """``meta.json`` of every execution folder, by the run's ``i``."""
        found: dict[int, dict[str, Any]] = {}
        for path in self.home.glob(f"**/{META}"):
            meta = json.loads(path.read_text(encoding="utf-8"))
            found[int(meta["params"]["i"])] = meta
        return found


@contextlib.contextmanager
def sweep_on(root: Path, url: str) -> Iterator[Sweep]:
    sweep = Sweep(root, url)
    try:
        yield sweep
    finally:
        sweep.kill_all()


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
