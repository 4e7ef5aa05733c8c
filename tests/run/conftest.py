"""Helpers for the end-to-end tests of ``runyard run`` and the worker.

A :class:`Project` is a spec folder under ``tmp_path`` (the spec plus a small recording script,
``rec.py``) and a home beside it. ``runyard`` runs as a real subprocess (the console script next to
``sys.executable``) or through click's ``CliRunner``, always with ``RUNYARD_HOME`` under ``tmp_path``.

``python rec.py LABEL [--sleep S] [--sleep-file PATH] [--until PATH] [--exit N] [--fail-label L]
[--fail-first PATH] [--fail-unless PATH]`` appends a JSON line ``{"event": "start", ...}`` when it starts (with its pid,
process group, ``CUDA_VISIBLE_DEVICES``, cwd, ``PYTHONPATH`` and the ``RUNYARD_*`` variables it saw)
and ``{"event": "end", ...}`` just before it exits (the *completed* line), to ``rec.jsonl``.
"""

from __future__ import annotations

import contextlib
import json
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

import pytest
from click.testing import CliRunner, Result

from runyard.cli.main import cli
from runyard.store import Store, open_store
from runyard.store.base import ExecRecord
from runyard.testing.processes import Proc, complete_lines, group_alive

RUNYARD = str(Path(sys.executable).with_name("runyard"))

REC_PY = r'''
import json, os, sys, time

REC = {rec!r}


def note(event, **extra):
    data = {{"label": LABEL, "event": event, "t": time.time(), "pid": os.getpid(), "pgid": os.getpgrp(), **extra}}
    fd = os.open(REC, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(data) + "\n").encode())
    finally:
        os.close(fd)


args = sys.argv[1:]
LABEL = args.pop(0)
opts = dict(zip(args[::2], args[1::2]))
note("start", cvd=os.environ.get("CUDA_VISIBLE_DEVICES"), cwd=os.getcwd(),
     pythonpath=os.environ.get("PYTHONPATH", ""),
     env={{k: v for k, v in os.environ.items() if k.startswith("RUNYARD_")}})
seconds = float(opts.get("--sleep", 0))
if "--sleep-file" in opts:
    with open(opts["--sleep-file"]) as handle:
        seconds = float(handle.read())
time.sleep(seconds)
if "--until" in opts:  # held until the test creates that file (at most a minute)
    deadline = time.monotonic() + 60
    while not os.path.exists(opts["--until"]) and time.monotonic() < deadline:
        time.sleep(0.01)
code = int(opts.get("--exit", 0))
if opts.get("--fail-label") == LABEL:
    code = 3
if "--fail-first" in opts and not os.path.exists(opts["--fail-first"]):
    open(opts["--fail-first"], "w").close()
    code = 4
if "--fail-unless" in opts and not os.path.exists(opts["--fail-unless"]):
    code = 5
note("end", code=code)
if code:
    print(f"rec.py {{LABEL}}: failing with exit code {{code}}", file=sys.stderr)
sys.exit(code)
'''


@dataclass
class Project:
    tmp: Path
    root: Path  # the spec folder
    home: Path
    rec: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    # --- files ---------------------------------------------------------------------------------
    def spec(self, text: str, name: str = "runyard.yaml") -> Path:
        return self.file(name, text)

    def file(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    # --- running runyard -------------------------------------------------------------------------
    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_") and k not in ("COLUMNS", "LINES")}
        env.update({"RUNYARD_HOME": str(self.home), "PYTHONDONTWRITEBYTECODE": "1", **extra})
        return env

    def run(self, *args: str, timeout: float = 300, cwd: Path | None = None, **env: str) -> Proc:
        """``runyard ARGS`` as a subprocess (in the spec folder unless ``cwd``); waits for it."""
        argv = [RUNYARD, *args]
        began = time.monotonic()
        done = subprocess.run(argv, cwd=cwd or self.root, env=self.env(**env), capture_output=True, text=True,
                              timeout=timeout, check=False)
        return Proc(argv, done.returncode, done.stdout, done.stderr, time.monotonic() - began)

    def start(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        """``runyard ARGS`` in its own session (so signals go to it alone); output to ``<tmp>/out-N.txt``."""
        out = open(self.tmp / f"out-{len(self.started)}.txt", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([RUNYARD, *args], cwd=self.root, env=self.env(**env), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        self.started.append(proc)
        return proc

    def output_of(self, proc: subprocess.Popen[bytes]) -> str:
        return (self.tmp / f"out-{self.started.index(proc)}.txt").read_text(encoding="utf-8", errors="replace")

    def cli(self, *args: str) -> Result:
        """``runyard ARGS`` in-process through click's runner (the home under tmp_path)."""
        env = {"RUNYARD_HOME": str(self.home), "RUNYARD_STORE": None}
        with _chdir(self.root):
            return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    # --- what happened ---------------------------------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in complete_lines(self.rec)]

    def starts(self, label: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.records() if r["event"] == "start" and (label is None or r["label"] == label)]

    def ends(self, label: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.records() if r["event"] == "end" and (label is None or r["label"] == label)]

    def count(self, label: str) -> int:
        """How many times the step labelled ``label`` completed."""
        return len(self.ends(label))

    def intervals(self) -> list[Interval]:
        """[start, end] of every completed rec.py invocation, with what it saw."""
        open_: dict[int, dict[str, Any]] = {}
        out = []
        for r in self.records():
            if r["event"] == "start":
                open_[r["pid"]] = r
            elif r["pid"] in open_:
                s = open_.pop(r["pid"])
                out.append(Interval(s["label"], s["t"], r["t"], s["cvd"]))
        return out

    @contextlib.contextmanager
    def store(self) -> Iterator[Store]:
        store = open_store(f"sqlite:///{self.home / 'runyard.db'}")
        try:
            yield store
        finally:
            store.close()

    def executions(self, experiment: str | None = None) -> list[ExecRecord]:
        with self.store() as store:
            return store.executions(experiment)

    def by_step(self, experiment: str | None = None) -> dict[str, list[ExecRecord]]:
        out: dict[str, list[ExecRecord]] = {}
        for ex in self.executions(experiment):
            out.setdefault(ex.step, []).append(ex)
        return out


@dataclass(frozen=True)
class Interval:
    label: str
    start: float
    end: float
    cvd: str | None


def max_overlap(intervals: list[Interval], key: Callable[[Interval], object] | None = None) -> int:
    """The most intervals (optionally: with the same ``key``) that held one moment together."""
    groups: dict[object, list[Interval]] = {}
    for iv in intervals:
        groups.setdefault(key(iv) if key else None, []).append(iv)
    best = 0
    for members in groups.values():
        events = sorted([(iv.start, 1) for iv in members] + [(iv.end, -1) for iv in members],
                        key=lambda e: (e[0], e[1]))  # an end before a start at the same instant
        now = 0
        for _, delta in events:
            now += delta
            best = max(best, now)
    return best


@contextlib.contextmanager
def _chdir(path: Path) -> Iterator[None]:
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def make_project(tmp: Path) -> Project:
    """A project (spec folder with ``rec.py``, home beside it) under ``tmp``; for a fixture of a wider scope
    (several tests reading one finished sweep) with ``tmp_path_factory.mktemp``."""
    root = tmp / "proj"
    root.mkdir()
    proj = Project(tmp=tmp, root=root, home=tmp / "home", rec=tmp / "rec.jsonl")
    proj.file("rec.py", REC_PY.format(rec=str(proj.rec)))
    return proj


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    monkeypatch.delenv("RUNYARD_HOME", raising=False)
    monkeypatch.delenv("RUNYARD_STORE", raising=False)
    proj = make_project(tmp_path)
    try:
        yield proj
    finally:
        for proc in proj.started:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
        left = sorted({r["pgid"] for r in proj.starts()} - {os.getpgrp()})
        left = [pgid for pgid in left if group_alive(pgid)]
        for pgid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
    # steps must not outlive their worker (checked after cleaning up, so a failure leaves nothing behind)
    assert not left, f"step process groups still alive after the test: {left}"
