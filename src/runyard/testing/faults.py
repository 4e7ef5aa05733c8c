"""Helpers for fault tests: a spec folder with a home, ``runyard`` as a real subprocess, a small tmpfs to
fill, and waiting on a condition (never on time)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runyard.layout import HomePaths
from runyard.model import Metric
from runyard.store import Store, open_store
from runyard.store.base import ExecRecord
from runyard.testing.processes import Proc, wait_for

RUNYARD = str(Path(sys.executable).with_name("runyard"))


class Yard:
    """A spec folder ``root`` and a home; ``store_url`` defaults to ``<home>/runyard.db``."""

    def __init__(self, root: Path, home: Path, store_url: str | None = None) -> None:
        self.root = root
        self.home = home
        self.store_url = store_url or f"sqlite:///{HomePaths(str(home)).store_file}"
        self.started: list[subprocess.Popen[bytes]] = []

    def spec(self, text: str) -> Path:
        path = self.root / "runyard.yaml"
        path.write_text(textwrap.dedent(text))
        return path

    def file(self, name: str, text: str) -> Path:
        path = self.root / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_") and k not in ("COLUMNS", "LINES")}
        env.update({"RUNYARD_HOME": str(self.home), "RUNYARD_STORE": self.store_url, "PYTHONDONTWRITEBYTECODE": "1"})
        return env

    def run(self, *args: str, timeout: float = 60) -> Proc:
        """Run ``runyard ARGS`` to its end (killed, and the test failed, after ``timeout`` seconds)."""
        argv = [RUNYARD, *args]
        start = time.monotonic()
        try:
            done = subprocess.run(argv, cwd=self.root, env=self.env(), capture_output=True, text=True,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired as err:
            pytest.fail(f"runyard {' '.join(args)} still ran after {timeout} s (a hang): {err.stdout!r} {err.stderr!r}")
        return Proc(argv, done.returncode, done.stdout, done.stderr, time.monotonic() - start)

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        out = open(self.root / f"out-{len(self.started)}.txt", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([RUNYARD, *args], cwd=self.root, env=self.env(), stdout=out,
                                stderr=subprocess.STDOUT)
        out.close()
        self.started.append(proc)
        return proc

    def output_of(self, proc: subprocess.Popen[bytes]) -> str:
        return (self.root / f"out-{self.started.index(proc)}.txt").read_text(errors="replace")

    @contextlib.contextmanager
    def store(self) -> Iterator[Store]:
        with open_store(self.store_url) as store:
            yield store

    def executions(self, experiment: str) -> list[ExecRecord]:
        with self.store() as store:
            return store.executions(experiment)

    def execution(self, step: str) -> ExecRecord:
        """The one execution of ``step`` in the store."""
        with self.store() as store:
            found = [ex for ex in store.executions() if ex.step == step]
        assert len(found) == 1, found
        return found[0]

    def points(self, step: str, name: str | None = None) -> list[Metric]:
        """The stored points of ``step`` (of metric ``name``), by name then step."""
        key = self.execution(step).key
        with self.store() as store:
            return sorted(store.metric_points(key, name), key=lambda p: (p.name, p.step or 0))

    def stop_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


@contextlib.contextmanager
def small_tmpfs(folder: Path, size: str = "2m") -> Iterator[Path]:
    """Mount a tmpfs of ``size`` on ``folder`` for the block (skips the test where mounting is not
    permitted); unmounted afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                              capture_output=True, text=True, check=False)
        why = done.stderr.strip() if done.returncode != 0 else ""
    except OSError as err:  # no mount command
        why = str(err)
    if why:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {why}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


def make_yard(tmp_path: Path) -> Yard:
    """A spec folder ``proj`` and a home ``home`` under ``tmp_path``."""
    root = tmp_path / "proj"
    root.mkdir()
    return Yard(root, tmp_path / "home")


__all__ = ["Yard", "make_yard", "small_tmpfs", "wait_for"]
