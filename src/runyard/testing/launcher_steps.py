"""The call steps the launcher contract suite runs (``python -m runyard.call runyard.testing.launcher_steps:NAME``).

Each tells the test what it saw or did through files (written whole, then renamed into place), never
through timing.  A step that waits does so for a file the test creates, bounded by ``bound`` seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time


def _publish(path: str, value: object) -> None:
    with open(path + ".part", "w", encoding="utf-8") as handle:
        json.dump(value, handle)
    os.replace(path + ".part", path)


def _wait_for_file(path: str, bound: float) -> None:
    end = time.monotonic() + bound
    while not os.path.exists(path) and time.monotonic() < end:
        time.sleep(0.01)


def succeed() -> None:
    """Exit 0."""


def fail() -> None:
    """Exit 1 (the function raised)."""
    raise RuntimeError("this step fails on purpose")


def die_by_signal() -> None:
    """Killed by SIGKILL: 137."""
    os.kill(os.getpid(), signal.SIGKILL)


def print_both() -> None:
    """One line to stdout, one to stderr, through Python's streams."""
    print("contract: to stdout", flush=True)
    print("contract: to stderr", file=sys.stderr, flush=True)


def write_fds() -> None:
    """One line straight to file descriptor 1, one to 2 (what C code and child processes do)."""
    os.write(1, b"contract: to fd 1\n")
    os.write(2, b"contract: to fd 2\n")


def show_env(into: str, names: list[str]) -> None:
    """Publish the environment variables ``names``, the current folder and ``sys.path`` in ``into``."""
    _publish(into, {"env": {name: os.environ.get(name) for name in names}, "cwd": os.getcwd(), "path": sys.path})


def block(ready: str, release: str, ignore_term: bool = False, bound: float = 120.0) -> None:
    """Publish this process's pid in ``ready``, then wait for ``release`` (``ignore_term``: SIGTERM first)."""
    if ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _publish(ready, [os.getpid()])
    _wait_for_file(release, bound)


def spawn_tree(ready: str, release: str, bound: float = 120.0) -> None:
    """Start a process tree: a grandchild, a TERM-proof grandchild and that one's own child; publish every
    pid (this one first) in ``ready``, then wait for ``release``."""
    proof = "import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); " \
            f"child = subprocess.Popen(['sleep', str(int({bound}))]); print(child.pid, flush=True); " \
            f"time.sleep({bound})"
    plain = subprocess.Popen(["sleep", str(int(bound))])
    stubborn = subprocess.Popen([sys.executable, "-c", proof], stdout=subprocess.PIPE, text=True)
    assert stubborn.stdout is not None
    great = int(stubborn.stdout.readline())
    _publish(ready, [os.getpid(), plain.pid, stubborn.pid, great])
    _wait_for_file(release, bound)
