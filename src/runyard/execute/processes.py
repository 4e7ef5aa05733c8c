"""Process groups and pids, read and signalled: whether a step's group still runs, killing the group of a
step whose worker died (never a reused pgid), whether a pid is still the process that started then.

Linux's ``/proc`` gives start times and zombie states; elsewhere only whether a pid exists is known.
"""

from __future__ import annotations

import os
import signal

__all__ = [
    "group_alive",
    "kill_orphan_group",
    "leader_exited",
    "process_alive",
    "process_start_time",
    "signal_group",
]

_WAITID = hasattr(os, "waitid") and hasattr(os, "WNOWAIT")


def signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to process group ``pgid``.  False when the group is gone."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs.  Zombies do not count (on Linux, where /proc shows
    them), so an exited leader that is not reaped yet does not either.  Cheap when the group is gone."""
    if not signal_group(pgid, 0):
        return False
    if not os.path.isdir("/proc/self"):
        return True
    return any(st[0] == pgid and st[2] != "Z" for st in map(_stat, _pids()) if st is not None)


def leader_exited(pid: int) -> bool | None:
    """Whether this process's child ``pid`` has exited, without reaping it: True, False, or None where that
    cannot be told.  Raises :class:`ChildProcessError` when ``pid`` is no child of ours to wait for (reaped
    already, by whoever did)."""
    if not _WAITID:
        return None
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _stat(pid: int) -> tuple[int, float, str] | None:
    """(process group, start as wall-clock seconds, state letter) of ``pid`` from /proc, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        start = _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")
        return int(fields[2]), start, fields[0].decode()
    except (OSError, ValueError, IndexError):
        return None


def _pids() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


_boot: list[float] = []


def _boot_time() -> float:
    if not _boot:
        with open("/proc/stat", "rb") as f:
            for line in f:
                if line.startswith(b"btime "):
                    _boot.append(float(line.split()[1]))
                    break
            else:
                raise ValueError("no btime in /proc/stat")
    return _boot[0]


def process_alive(pid: int, *, started: float, tolerance: float = 5.0) -> bool:
    """Is ``pid`` the live process that started around ``started`` (not gone, not a zombie, not a reused pid)?

    Without /proc (not Linux) only whether the pid exists can be told."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    st = _stat(pid)
    if st is None:  # gone since os.kill, or no /proc to tell more (then: it exists)
        return not os.path.isdir("/proc")
    _, start, state = st
    return state not in ("Z", "X") and start <= started + tolerance


def process_start_time(pid: int) -> float | None:
    """When ``pid`` started, as wall-clock seconds (Linux /proc; None elsewhere or when gone)."""
    st = _stat(pid)
    return None if st is None else st[1]


def kill_orphan_group(
    pgid: int, *, expected_start: float | None = None, sig: int = signal.SIGKILL, tolerance: float = 5.0
) -> bool:
    """Kill the process group of a step whose worker died.  True when a signal was sent.

    ``expected_start``: the step's launch as wall-clock seconds (``time.time()``).  With it, on Linux, a
    group is only signalled when it is still that step's: some member is not a zombie, and the leader,
    if it exists, started within ``tolerance`` seconds of it, else every member started after it (less
    ``tolerance``).  So a pgid reused by an unrelated process is left alone.
    """
    if pgid <= 1 or pgid == os.getpgrp():
        return False
    if expected_start is not None and os.path.isdir("/proc/self"):
        members = {pid: st for pid in _pids() if (st := _stat(pid)) is not None and st[0] == pgid}
        if all(st[2] == "Z" for st in members.values()):
            return False  # gone, or only zombies left
        leader = members.get(pgid)
        if leader is not None:
            if abs(leader[1] - expected_start) > tolerance:
                return False
        elif any(st[1] < expected_start - tolerance for st in members.values()):
            return False
    return signal_group(pgid, sig)
