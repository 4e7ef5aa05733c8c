"""The guardian: one small process per worker that kills the step process groups still registered
when its worker dies, however it dies (see :mod:`runyard.execute.launch` and :mod:`runyard.execute.launchers.local`)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

from runyard.execute.launch import OWN_GROUP
from runyard.execute.processes import kill_orphan_group


class Guardian:
    """A watchdog process that kills the registered process groups when its worker dies.

    The worker holds the write end of a pipe; the guardian reads ``+pgid start`` / ``-pgid`` lines, and
    on end-of-file (the worker exited or was killed, even by SIGKILL) SIGKILLs every group still
    registered (checked with :func:`kill_orphan_group`), then exits.  It runs in its own process group
    and ignores SIGINT and SIGHUP, so Ctrl-C at the terminal does not reach it.  :meth:`close` ends it
    the same way: close it once every child has exited (or to kill what still runs).
    """

    def __init__(self) -> None:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # holds runyard/
        code = (
            f"import sys; sys.path.insert(0, {root!r}); "
            "from runyard.execute.guardian import _guardian_main; _guardian_main()"
        )
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **OWN_GROUP,
        )
        assert self._proc.stdin is not None
        self._pipe = self._proc.stdin
        self._dead = False
        self._forgotten: list[str] = []  # unwatch lines not sent yet: they go with the next write
        self.pid = self._proc.pid

    @property
    def alive(self) -> bool:
        return not self._dead and self._proc.poll() is None

    def _send(self, line: str) -> None:
        if self._dead:
            return
        if self._forgotten:
            line = "".join(self._forgotten) + line
            self._forgotten.clear()
        try:
            os.write(self._pipe.fileno(), line.encode())
        except (BrokenPipeError, ValueError, OSError):
            self._dead = True

    def watch(self, pgid: int, started_wall: float) -> None:
        """Register a group at once (with the groups forgotten since the last write, in the same write)."""
        self._send(f"+{pgid} {started_wall!r}\n")

    def unwatch(self, pgid: int) -> None:
        """Forget a group whose leader was reaped.  Sent with the next :meth:`watch` or :meth:`close`: one
        pipe write per step, not two (each write wakes the guardian).  Until then the guardian may still
        hold the group; it kills a registered group only if its leader's start time matches
        (:func:`kill_orphan_group`), so a reused process group id is safe."""
        if not self._dead:
            self._forgotten.append(f"-{pgid}\n")

    def close(self, timeout: float = 10.0) -> None:
        """Close the pipe: the guardian kills whatever is still registered, then exits."""
        if self._forgotten:
            self._send("")
        self._dead = True
        with contextlib.suppress(OSError):
            self._pipe.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout)

    def __enter__(self) -> Guardian:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _guardian_main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    watched: dict[int, float] = {}
    buf = b""
    while data := os.read(0, 65536):
        *lines, buf = (buf + data).split(b"\n")
        for line in lines:
            with contextlib.suppress(ValueError, IndexError):
                if line.startswith(b"+"):
                    group, since = line[1:].split()
                    watched[int(group)] = float(since)
                elif line.startswith(b"-"):
                    watched.pop(int(line[1:]), None)
    for pgid, start in watched.items():
        kill_orphan_group(pgid, expected_start=start)
