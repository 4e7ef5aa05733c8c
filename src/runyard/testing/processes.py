"""Process helpers for tests: a finished command's result, process-group checks read straight from
``/proc`` (independent of the launch code under test), and waiting on a condition (never on time)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition",
             interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it is truthy and return its value; fail after ``timeout`` seconds (a bound
    on a hang, not a timing assumption)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def process_running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def group_alive(pgid: int) -> bool:
    """Whether any non-zombie process of process group ``pgid`` exists."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != b"Z":
            return True
    return False


@dataclass
class Proc:
    """A finished ``runyard`` subprocess."""

    args: list[str]
    code: int
    stdout: str
    stderr: str
    seconds: float = 0.0

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:
        return f"$ {' '.join(self.args)}\nexit {self.code} after {self.seconds:.2f}s\n{self.stdout}{self.stderr}"


def complete_lines(path: str | os.PathLike[str]) -> list[str]:
    """The lines of a file other processes are appending to, leaving out a last line whose newline is not
    written yet (a reader racing a writer must not see half a record)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    lines = text.split("\n")
    return [line for line in lines[:-1] if line.strip()]  # lines[-1]: "" or a record still being written
