"""Process checks for tests, read straight from ``/proc`` (independent of the launch code under test)."""

from __future__ import annotations

import os


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
