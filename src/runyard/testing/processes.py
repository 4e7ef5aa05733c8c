"""Process helpers for tests: a finished command's result, and process-group checks read straight from
``/proc`` (independent of the launch code under test)."""

from __future__ import annotations

import os
from dataclasses import dataclass


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
