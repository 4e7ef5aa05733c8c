"""The local launcher: a step is ``bash -c COMMAND`` in a process group of its own on this machine.

:func:`launch` runs ``bash -c COMMAND`` with exactly the command text: no prefix, no redirect.  The
child gets ``os.environ`` (as it was at the launcher's first step) plus the caller's additions, stdin
from ``/dev/null``, stdout *and* stderr appended to the log file by file descriptor, its own process
group (``pgid == pid``), and a death
signal so it dies with its worker (:mod:`runyard.execute.launch`), and the group is registered with the
launcher's :class:`~runyard.execute.guardian.Guardian` (one per launcher, started with its first step).

The worker waits on the leader's pidfd.  When the leader has exited, what is left of its group is
SIGKILLed before the leader is reaped (a TERM-proof child of a timed-out step, the data-loader workers of
a crashed trainer holding the GPU): the unreaped leader keeps the group id from being reused.  A leader
reaped by someone else (a ``SIGCHLD`` handler, ``waitpid(-1)`` in the worker's process) is *lost*: its exit
status is gone, and ``subprocess`` would report 0.

Return codes: the exit status, or ``128 + N`` when the leader was killed by signal N (what a shell
reports; ``bash -c`` itself exits ``128 + N`` when its last command is killed), see :attr:`Child.signaled`.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Mapping

from runyard.errors import DiskFull, LaunchError
from runyard.execute.guardian import Guardian
from runyard.execute.launch import OWN_GROUP, dying_with_parent, tool
from runyard.execute.launchers.base import Capabilities, Clock, Exit, LaunchRequest
from runyard.execute.processes import group_alive, kill_orphan_group, leader_exited, signal_group

__all__ = ["Child", "LocalHandle", "LocalLauncher", "launch", "terminate"]

_USE_PIDFD = hasattr(os, "pidfd_open")


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
        self._threaded = False
        try:
            if not _USE_PIDFD:
                raise OSError("no pidfd")
            self._fd = os.pidfd_open(proc.pid)
        except OSError:  # not Linux, or a kernel before 5.3
            self._fd, self._waker = os.pipe()
            self._threaded = True
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

    @property
    def waited_by_thread(self) -> bool:
        """Whether a waiter thread reaps the leader (no pidfd here)."""
        return self._threaded

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
    base_env: Mapping[str, str] | None = None,
) -> Child:
    """Start ``bash -c command`` in ``cwd``, logging to ``log_path`` (appended).

    Environment: ``base_env`` (default: ``os.environ`` as it is now) + ``env_extra``, with
    ``pythonpath_first`` put first on ``PYTHONPATH``.
    ``guardian``: register the group with it.  ``deathsig``: give the child its death signal (see the
    module's docstring); default: yes.  Raises :class:`LaunchError` (path and reason) when the
    log cannot be opened or the process cannot start (missing ``cwd``, no ``bash`` ...).
    """
    bash = tool("bash")
    if bash is None:
        raise LaunchError(f"cannot start step in {cwd}: bash is not on PATH ({os.environ.get('PATH', '')})")
    env = dict(os.environ if base_env is None else base_env)
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


def terminate(child: Child, *, grace: float = 10.0) -> int:
    """Blocking stop: SIGTERM to the group, SIGKILL to what is left after ``grace`` seconds.

    Returns the leader's return code.  The worker does the same without blocking: :meth:`LocalHandle.terminate`.
    """
    if child.poll() is None:
        signal_group(child.pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    child.wait(grace)
    while group_alive(child.pgid) and time.monotonic() < deadline:  # members that outlive the leader
        time.sleep(0.02)
    if group_alive(child.pgid):
        signal_group(child.pgid, signal.SIGKILL)
    code = child.wait()
    assert code is not None
    return code


class LocalHandle:
    """A :class:`Child` watched by the worker: its timeout and grace period on the launcher's clock."""

    def __init__(self, child: Child, *, clock: Clock, timeout: float | None, grace: float) -> None:
        self.child = child
        self.pid: int = child.pid
        self.pgid: int | None = child.pgid
        self._clock = clock
        self._deadline = clock() + timeout if timeout else None
        self._grace = grace
        self._kill_at: float | None = None
        self._timed_out = False
        self.terminating = False

    def fileno(self) -> int | None:
        return self.child.fileno()

    @property
    def due(self) -> float | None:
        moments = [m for m in (self._deadline, self._kill_at) if m is not None]
        return min(moments) if moments else None

    def poll(self) -> Exit | None:
        child = self.child
        try:
            gone = leader_exited(child.pid)
        except ChildProcessError:  # no child of ours any more: reaped by us, or by someone else
            if child.returncode is None and not child.waited_by_thread:
                kill_orphan_group(child.pgid, expected_start=child.started_wall)
                return Exit(None, lost=f"process {child.pid} was reaped by another part of the worker's process: "
                                       "its exit status is unknown")
            gone = True
        if gone:  # kill what is left of the group before reaping: the unreaped leader keeps its id from reuse
            signal_group(child.pgid, signal.SIGKILL)
        code = child.poll()
        if code is None:
            self._enforce()
            return None
        if gone is None:
            signal_group(child.pgid, signal.SIGKILL)
        return Exit(code, "timeout" if self._timed_out else "")

    def _enforce(self) -> None:
        now = self._clock()
        if self._kill_at is not None and now >= self._kill_at:
            signal_group(self.child.pgid, signal.SIGKILL)
            self._kill_at = None
        elif self._deadline is not None and now >= self._deadline:
            self._timed_out = True
            self.terminate(self._grace)

    def terminate(self, grace: float) -> None:
        self.terminating = True
        self._deadline = None
        if grace <= 0:
            signal_group(self.child.pgid, signal.SIGKILL)
            self._kill_at = None
            return
        signal_group(self.child.pgid, signal.SIGTERM)
        self._kill_at = self._clock() + grace

    def close(self) -> None:
        self.child.close()


class LocalLauncher:
    """Steps as process groups on this machine (the default launcher)."""

    name = "local"
    capabilities = Capabilities(own_process=True, process_tree=True, gpus=True, timeouts=True)

    def __init__(self, clock: Clock = time.monotonic, *, guardian: bool = True) -> None:
        self._clock = clock
        self._guarded = guardian
        self._guardian: Guardian | None = None
        self._environ: dict[str, str] | None = None

    def start(self, request: LaunchRequest) -> LocalHandle:
        if self._guarded and self._guardian is None:
            self._guardian = Guardian()
        if self._environ is None:  # the worker's environment, read once (os.environ reads decode every entry)
            self._environ = dict(os.environ)
        child = launch(request.command, cwd=request.cwd, log_path=request.log_path, env_extra=request.env,
                       pythonpath_first=request.pythonpath_first, guardian=self._guardian, base_env=self._environ)
        return LocalHandle(child, clock=self._clock, timeout=request.timeout, grace=request.grace)

    def close(self) -> None:
        """Stop the guardian: it kills every group still registered (the steps that still run)."""
        if self._guardian is not None:
            self._guardian.close()
            self._guardian = None
