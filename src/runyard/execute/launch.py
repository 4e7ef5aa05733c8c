"""Start step processes and stop them again (DESIGN §5).

:func:`launch` runs ``bash -c COMMAND`` with exactly the command text: no prefix, no redirect.  The
child gets ``os.environ`` plus the caller's additions, stdin from ``/dev/null``, stdout *and* stderr
appended to the log file by file descriptor, its own process group (``pgid == pid``), and a death
signal so it dies with its worker.

Dying with the worker, two ways, both on by default (a step never outlives both its worker and the
guardian, even when both are killed with SIGKILL):

* per child: ``PR_SET_PDEATHSIG``, set by exec'ing through util-linux ``setpriv --pdeathsig`` when it
  is installed, else by ``prctl`` in a ``preexec_fn``.  With GNU coreutils ``timeout`` installed the
  group leader is ``timeout -s KILL 0 bash -c COMMAND`` (no time limit: ``0``) and the death signal
  is ``SIGALRM``, which ``timeout`` takes as its time being up: it SIGKILLs its whole process group,
  so a compound command's other processes and the step's grandchildren (``python x.py &``) die too.
  Without ``timeout`` the death signal is ``SIGKILL`` to ``bash`` (or the program bash execs for a
  simple command), and only the guardian or :func:`kill_orphan_group` reach the rest of the group.
  A side effect of ``timeout``: a SIGTERM to the group reaches ``timeout`` too, which passes it on
  to the group once more.  The signal fires when the *thread* that launched the child exits: launch
  from a long-lived thread.
* :class:`~runyard.execute.guardian.Guardian`: one small process per worker that is told each group
  and kills every group still registered when the worker's pipe closes (the worker died, however).

Cost per launch, measured here (``launch()`` call / launch-to-exit of ``true``): no death signal
0.17 / 1.16 ms; ``setpriv`` 0.18 / 1.94 ms (vfork path kept, one more exec in the child); guardian
0.19 / 1.18 ms; ``preexec_fn`` + ``prctl`` 1.8 ms, and 21-24 ms for a worker with 500 MB resident
(``preexec_fn`` forces CPython's fork path, whose cost grows with the parent's memory).  The default
now, ``setpriv`` + ``timeout`` + guardian: launch-to-exit 3.9-6.8 ms against 1.5-1.9 ms for the
guardian alone, on a loaded 2-core machine (two more ``exec`` per step).

Return codes: the exit status, or ``128 + N`` when the leader was killed by signal N (what a shell
reports; ``bash -c`` itself exits ``128 + N`` when its last command is killed), see :attr:`Child.signaled`.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from runyard.errors import DiskFull, LaunchError

if TYPE_CHECKING:
    from runyard.execute.guardian import Guardian

__all__ = [
    "Child",
    "group_alive",
    "kill_orphan_group",
    "launch",
    "process_alive",
    "process_start_time",
    "signal_group",
    "terminate",
]

_LINUX = sys.platform.startswith("linux")
_USE_PIDFD = hasattr(os, "pidfd_open")
_PR_SET_PDEATHSIG = 1
#: ``subprocess.Popen`` keywords that put a child in a process group of its own (its pgid is its pid)
OWN_GROUP: dict[str, Any] = {"process_group": 0} if sys.version_info >= (3, 11) else {"start_new_session": True}
_tools: dict[str, str | None] = {}


def _tool(name: str) -> str | None:
    if name not in _tools:
        path = shutil.which(name)
        # setpriv: --pdeathsig came with util-linux 2.33; timeout: GNU's kills its process group
        needed = {"setpriv": ("--help", "--pdeathsig"), "timeout": ("--version", "GNU coreutils")}.get(name)
        if needed is not None and path is not None and _LINUX:
            try:
                out = subprocess.run([path, needed[0]], capture_output=True, text=True, timeout=5, check=False)
                path = path if needed[1] in out.stdout else None
            except (OSError, subprocess.SubprocessError):
                path = None
        _tools[name] = path
    return _tools[name]


def deathsig_method() -> str:
    """How :func:`launch` gives a child its death signal here: ``setpriv``, ``prctl`` or ``none``."""
    if not _LINUX:
        return "none"
    return "setpriv" if _tool("setpriv") else "prctl"


def _group_killer() -> list[str]:
    """The argv prefix that makes the group leader kill its whole group on ``SIGALRM`` (its death
    signal), or ``[]`` without GNU ``timeout``."""
    timeout = _tool("timeout") if _LINUX else None
    return [timeout, "-s", "KILL", "0"] if timeout else []


def dying_with_parent(argv: list[str]) -> tuple[list[str], Callable[[], None] | None]:
    """``argv`` made to die with this process's launching thread, its whole process group with it (when
    GNU ``timeout`` leads the group), and the ``preexec_fn`` that needs where ``setpriv`` is missing. The
    child must be started in a process group of its own (:data:`OWN_GROUP`)."""
    if not _LINUX:
        return argv, None
    killer = _group_killer()
    argv = [*killer, *argv]
    setpriv = _tool("setpriv")
    if setpriv:
        return [setpriv, "--pdeathsig", "ALRM" if killer else "KILL", "--", *argv], None
    return argv, _prctl_preexec(signal.SIGALRM if killer else signal.SIGKILL)


_prctl: list[Any] = []


def _prctl_preexec(sig: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A ``preexec_fn`` setting PDEATHSIG (libc is loaded here, in the parent, not in every child)."""
    if not _prctl:
        import ctypes

        try:
            _prctl.append(ctypes.CDLL(None, use_errno=True).prctl)
        except (OSError, AttributeError):
            _prctl.append(None)
    prctl, parent = _prctl[0], os.getpid()
    if prctl is None:
        return None

    def preexec() -> None:  # in the child between fork and exec
        prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the worker died before prctl took effect
            os._exit(137)

    return preexec


class Child:
    """A launched step process: the leader of its own process group.

    ``fileno()`` becomes readable when the leader exits (a pidfd; without pidfd support a pipe written
    by a waiter thread), so many children can be waited on with one ``selectors`` selector.  Reap it
    with :meth:`poll`; after that unregister it from the selector, then :meth:`close` it.
    """

    def __init__(
        self, proc: subprocess.Popen[bytes], *, command: str, log_path: str, started: float, started_wall: float
    ) -> None:
        self._proc = proc
        self.pid: int = proc.pid
        self.pgid: int = proc.pid
        self.command = command
        self.log_path = log_path
        self.started = started  # time.monotonic() at launch
        self.started_wall = started_wall  # time.time() at launch: record it for kill_orphan_group
        self.guardian: Guardian | None = None
        self._waker: int | None = None
        try:
            if not _USE_PIDFD:
                raise OSError("no pidfd")
            self._fd = os.pidfd_open(proc.pid)
        except OSError:  # not Linux, or a kernel before 5.3
            self._fd, self._waker = os.pipe()
            threading.Thread(target=self._wait_thread, name=f"runyard-wait-{proc.pid}", daemon=True).start()

    def _wait_thread(self) -> None:
        self._proc.wait()
        waker, self._waker = self._waker, None
        if waker is not None:
            with contextlib.suppress(OSError):
                os.write(waker, b"x")
            os.close(waker)

    def fileno(self) -> int:
        return self._fd

    def poll(self) -> int | None:
        """Reap the leader without blocking: its return code, or None while it runs."""
        if self._proc.poll() is None:
            return None
        return self.returncode

    @property
    def returncode(self) -> int | None:
        """Exit status, or ``128 + N`` if killed by signal N; None until reaped."""
        rc = self._proc.returncode
        return None if rc is None else (128 - rc if rc < 0 else rc)

    @property
    def signaled(self) -> int | None:
        """The signal that killed the leader, if one did."""
        rc = self._proc.returncode
        return -rc if rc is not None and rc < 0 else None

    def wait(self, timeout: float | None = None) -> int | None:
        """Block until the leader exits (or ``timeout`` seconds pass: None)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self._fd, selectors.EVENT_READ)
            while (code := self.poll()) is None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                sel.select(left)
        return code

    def close(self) -> None:
        """Release the wake-up descriptor and tell the guardian to forget the group."""
        if self.guardian is not None:
            self.guardian.unwatch(self.pgid)
            self.guardian = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            if self._fd >= 0:
                os.close(self._fd)

    def __repr__(self) -> str:
        return f"Child(pid={self.pid}, returncode={self.returncode}, command={self.command[:40]!r})"


def launch(
    command: str,
    *,
    cwd: str,
    log_path: str,
    env_extra: Mapping[str, str],
    pythonpath_first: str | None = None,
    guardian: Guardian | None = None,
    deathsig: bool | None = None,
) -> Child:
    """Start ``bash -c command`` in ``cwd``, logging to ``log_path`` (appended).

    Environment: ``os.environ`` + ``env_extra``, with ``pythonpath_first`` put first on ``PYTHONPATH``.
    ``guardian``: register the group with it.  ``deathsig``: give the child its death signal (see the
    module's docstring); default: yes.  Raises :class:`LaunchError` (path and reason) when the
    log cannot be opened or the process cannot start (missing ``cwd``, no ``bash`` ...).
    """
    bash = _tool("bash")
    if bash is None:
        raise LaunchError(f"cannot start step in {cwd}: bash is not on PATH ({os.environ.get('PATH', '')})")
    env = dict(os.environ)
    env.update(env_extra)
    if pythonpath_first:
        old = env.get("PYTHONPATH")
        env["PYTHONPATH"] = pythonpath_first + os.pathsep + old if old else pythonpath_first
    guarded = guardian is not None and guardian.alive
    if deathsig is None:
        deathsig = True
    argv: list[str] = [bash, "-c", command]
    preexec = None
    if deathsig:
        argv, preexec = dying_with_parent(argv)
    try:
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    except OSError as err:
        full = DiskFull.of(err, log_path)
        if full is not None:
            raise full from err
        raise LaunchError(f"cannot open the log file {log_path}: {err.strerror}") from err
    try:
        started, started_wall = time.monotonic(), time.time()
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, preexec_fn=preexec, **OWN_GROUP
        )
    except OSError as err:
        where = err.filename if err.filename is not None else cwd
        raise LaunchError(f"cannot start step in {cwd}: {err.strerror or err}: {where}") from err
    finally:
        os.close(log)
    child = Child(proc, command=command, log_path=log_path, started=started, started_wall=started_wall)
    if guardian is not None and guarded:
        guardian.watch(child.pgid, started_wall)
        child.guardian = guardian
    return child


# ------------------------------------------------------------------------------------------ stopping
def signal_group(child: Child | int, sig: int) -> bool:
    """Send ``sig`` to the child's whole process group.  False when the group is gone."""
    pgid = child.pgid if isinstance(child, Child) else child
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def group_alive(child: Child | int) -> bool:
    """Whether a process of the group still runs.  Zombies do not count (on Linux, where /proc shows
    them), so an exited leader that is not reaped yet does not either.  Cheap when the group is gone."""
    pgid = child.pgid if isinstance(child, Child) else child
    if not signal_group(pgid, 0):
        return False
    if not os.path.isdir("/proc/self"):
        return True
    return any(st[0] == pgid and st[2] != "Z" for st in map(_stat, _pids()) if st is not None)


def terminate(child: Child, *, grace: float = 10.0) -> int:
    """Blocking stop: SIGTERM to the group, SIGKILL to what is left after ``grace`` seconds.

    Returns the leader's return code.  The worker loop does the same without blocking:
    :func:`signal_group` (TERM), keep a deadline, then :func:`signal_group` (KILL).
    """
    if child.poll() is None:
        signal_group(child, signal.SIGTERM)
    deadline = time.monotonic() + grace
    child.wait(grace)
    while group_alive(child) and time.monotonic() < deadline:  # members that outlive the leader
        time.sleep(0.02)
    if group_alive(child):
        signal_group(child, signal.SIGKILL)
    code = child.wait()
    assert code is not None
    return code


# ------------------------------------------------------------------------------------------ orphans
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

    ``expected_start``: :attr:`Child.started_wall` of that step (``time.time()`` at launch).  With it,
    on Linux, a group is only signalled when it is still that step's: some member is not a zombie,
    and the leader, if it exists, started within ``tolerance`` seconds of it, else every member
    started after it (less ``tolerance``).  So a pgid reused by an unrelated process is left alone.
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

_WAITID = hasattr(os, "waitid") and hasattr(os, "WNOWAIT")


def leader_exited(child: Child) -> bool | None:
    """Whether the step's leader process has exited, without reaping it; None where that cannot be told."""
    if not _WAITID:
        return None
    try:
        return os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # reaped already
        return True
