"""The warm launcher (``runyard run --warm``): call steps run in persistent Python processes, one per slot,
each importing the steps' modules once and running call after call (:mod:`.warm_slot`).

A slot process is started for a slot's first call step, with the worker's environment plus the step's
(its ``CUDA_VISIBLE_DEVICES`` too, which it keeps for its life) and the spec's folder first on
``PYTHONPATH``, in a process group of its own that dies with the worker like a local step's
(:mod:`runyard.execute.launch`, the guardian).  Each call is sent to it as one line; it answers with the
call's exit code when the call returns.  Each call is still its own execution: its own log (descriptors 1
and 2 of the process point to it during the call), its own environment, folder, metrics and result, as
``python -m runyard.call`` would have made them (:func:`runyard.execute.pycall.call` runs it).

A process serves the calls whose ``CUDA_VISIBLE_DEVICES`` and spec folder are its own; it is replaced

* after a crash: the call's process died (its exit status is the call's, ``128 + N`` by signal N);
* after a timeout or :meth:`WarmHandle.terminate` (a second Ctrl-C, a cancel, a pruned trial): its group
  gets SIGTERM, then SIGKILL after the grace period, as a local step's would;
* when a module it imported for a call changed on disk (the sha256 of its file, like a call step's code
  hash), checked before each call: the next call runs in a fresh process that imports the new code.

Idle processes wait for the next call; starting a new one retires the oldest idle one, so there are never
more processes than steps that ran at once.  What is not isolated between two calls of one process: the
state the module keeps (globals, caches, imported modules) and what a call changed in the process beyond
its environment variables, folder and ``sys.path`` (which are put back).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from typing import Any

from runyard.errors import LaunchError
from runyard.execute.guardian import Guardian
from runyard.execute.launch import OWN_GROUP, dying_with_parent
from runyard.execute.launchers.base import Capabilities, Clock, Exit, LaunchRequest
from runyard.execute.processes import kill_orphan_group, leader_exited, signal_group

__all__ = ["SlotProcess", "WarmHandle", "WarmLauncher"]

_SLOT_MAIN = "runyard.execute.launchers.warm_slot"
_CALL = "python -m runyard.call "
_EPOLL = hasattr(select, "epoll") and hasattr(os, "pidfd_open")

#: (CUDA_VISIBLE_DEVICES or None, spec folder or None): the calls a slot process may run
SlotKey = tuple[str | None, str | None]


def _digest(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


class SlotProcess:
    """One warm slot process: its pipes, and the files of the modules it imported."""

    def __init__(self, key: SlotKey, request: LaunchRequest, base_env: dict[str, str],
                 guardian: Guardian | None) -> None:
        self.key = key
        # the slot's variables (CUDA_VISIBLE_DEVICES ...); a call's own RUNYARD_* are set for the call only
        env = {**base_env, **{k: v for k, v in request.env.items() if not k.startswith("RUNYARD_")}}
        if request.pythonpath_first:
            old = env.get("PYTHONPATH")
            env["PYTHONPATH"] = request.pythonpath_first + os.pathsep + old if old else request.pythonpath_first
        calls_r, self._calls = os.pipe()
        self._answers, answers_w = os.pipe()
        argv, preexec = dying_with_parent([sys.executable, "-m", _SLOT_MAIN, str(calls_r), str(answers_w)])
        try:
            log = os.open(request.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        except OSError as err:
            self._close_fds(calls_r, answers_w)
            raise LaunchError(f"cannot open the log file {request.log_path}: {err.strerror}") from err
        try:  # until it reads its first call, what it writes (a failing start) goes to that call's log
            self.started_wall = time.time()
            self._proc = subprocess.Popen(argv, cwd=request.cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=log, pass_fds=(calls_r, answers_w), preexec_fn=preexec, **OWN_GROUP)
        except OSError as err:
            self._close_fds()
            raise LaunchError(f"cannot start step in {request.cwd}: {err.strerror or err}") from err
        finally:
            os.close(log)
            os.close(calls_r)
            os.close(answers_w)
        self.pid: int = self._proc.pid
        self.guardian = guardian if guardian is not None and guardian.alive else None
        if self.guardian is not None:
            self.guardian.watch(self.pid, self.started_wall)
        os.set_blocking(self._answers, False)
        self._buffer = b""
        self._eof = False
        self.doomed = False  # terminated, crashed or lost: never given another call
        self.files: dict[str, tuple[int, int, str]] = {}  # module file → (mtime_ns, size, sha256)
        self._pidfd = -1
        self._poller: Any = None
        if _EPOLL:  # one descriptor for the worker's selector: readable on an answer or on the leader's exit
            self._pidfd = os.pidfd_open(self.pid)
            self._poller = select.epoll()
            self._poller.register(self._answers, select.EPOLLIN)
            self._poller.register(self._pidfd, select.EPOLLIN)

    def fileno(self) -> int:
        return int(self._poller.fileno()) if self._poller is not None else self._answers

    def send(self, request: LaunchRequest) -> None:
        job = {"command": request.command, "cwd": request.cwd, "log": request.log_path, "env": dict(request.env),
               "spec": request.pythonpath_first}
        data = memoryview((json.dumps(job) + "\n").encode())
        while data:
            data = data[os.write(self._calls, data):]

    def answer(self) -> int | None:
        """The exit code of the call once it returned, else None (without blocking)."""
        while not self._eof and b"\n" not in self._buffer:
            try:
                chunk = os.read(self._answers, 65536)
            except BlockingIOError:
                break
            if not chunk:
                self._eof = True
                if self._poller is not None:  # else it stays readable: wait on the leader's exit only
                    self._poller.unregister(self._answers)
            self._buffer += chunk
        if b"\n" not in self._buffer:
            return None
        line, _, self._buffer = self._buffer.partition(b"\n")
        answer = json.loads(line)
        for path in answer["files"]:
            with contextlib.suppress(OSError):
                st = os.stat(path)
                self.files[path] = (st.st_mtime_ns, st.st_size, _digest(path))
        return int(answer["code"])

    def ended(self) -> Exit | None:
        """How the process ended, once it has (its group killed, the leader reaped), else None."""
        try:
            gone = leader_exited(self.pid)
        except ChildProcessError:  # reaped by someone else: its exit status is gone
            self.doomed = True
            kill_orphan_group(self.pid, expected_start=self.started_wall)
            return Exit(None, lost=f"process {self.pid} was reaped by another part of the worker's process: "
                                   "its exit status is unknown")
        if gone is None:  # no waitid here: the end of its answers says it is going
            gone = self._eof
        if not gone:
            return None
        self.doomed = True
        signal_group(self.pid, signal.SIGKILL)  # what is left of its group, before the leader is reaped
        rc = self._proc.wait()
        return Exit(128 - rc if rc < 0 else rc)

    def changed(self) -> bool:
        """Whether a module file it imported changed since (or is gone)."""
        for path, (mtime, size, digest) in self.files.items():
            try:
                st = os.stat(path)
                if (st.st_mtime_ns, st.st_size) == (mtime, size):
                    continue
                now = _digest(path)
            except OSError:
                return True
            if now != digest:
                return True
            self.files[path] = (st.st_mtime_ns, st.st_size, digest)
        return False

    def signal(self, sig: int) -> None:
        signal_group(self.pid, sig)

    def close(self, *, wait: float = 0.0) -> None:
        """Kill the group, reap the leader, release the descriptors.  ``wait``: an idle process first gets
        that many seconds to end by itself at the end of its calls (its exit handlers run)."""
        if self._proc.returncode is None:
            with contextlib.suppress(ChildProcessError):
                if wait > 0 and not self.doomed and not leader_exited(self.pid):
                    with contextlib.suppress(OSError):
                        os.close(self._calls)
                    self._calls = -1
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self._proc.wait(wait)
                signal_group(self.pid, signal.SIGKILL)
                self._proc.wait()
        if self.guardian is not None:
            self.guardian.unwatch(self.pid)
            self.guardian = None
        self._close_fds()

    def _close_fds(self, *more: int) -> None:
        if self._poller is not None:
            self._poller.close()
            self._poller = None
        for fd in (getattr(self, "_calls", -1), getattr(self, "_answers", -1), getattr(self, "_pidfd", -1), *more):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._calls = self._answers = self._pidfd = -1


class WarmHandle:
    """One call running in a slot process: its timeout and grace period on the launcher's clock."""

    def __init__(self, launcher: WarmLauncher, process: SlotProcess, *, timeout: float | None, grace: float) -> None:
        self._launcher = launcher
        self.process = process
        self.pid: int = process.pid
        self.pgid: int | None = process.pid
        self._clock = launcher.clock
        self._deadline = self._clock() + timeout if timeout else None
        self._grace = grace
        self._kill_at: float | None = None
        self._timed_out = False
        self._exit: Exit | None = None
        self.terminating = False

    def fileno(self) -> int | None:
        return self.process.fileno()

    @property
    def due(self) -> float | None:
        moments = [m for m in (self._deadline, self._kill_at) if m is not None]
        return min(moments) if moments else None

    def poll(self) -> Exit | None:
        if self._exit is not None:
            return self._exit
        code = self.process.answer()
        ended = Exit(code) if code is not None else self.process.ended()
        if ended is None:
            self._enforce()
            return None
        if self.terminating:  # signalled: it may be dying even though the call returned
            self.process.doomed = True
        if self._timed_out:
            ended = Exit(ended.code, "timeout", ended.lost)
        self._exit = ended
        return ended

    def _enforce(self) -> None:
        now = self._clock()
        if self._kill_at is not None and now >= self._kill_at:
            self.process.signal(signal.SIGKILL)
            self._kill_at = None
        elif self._deadline is not None and now >= self._deadline:
            self._timed_out = True
            self.terminate(self._grace)

    def terminate(self, grace: float) -> None:
        """Stop the call: its slot process's group gets SIGTERM (SIGKILL after ``grace``); the slot gets a
        new process for its next call."""
        self.terminating = True
        self.process.doomed = True
        self._deadline = None
        if grace <= 0:
            self.process.signal(signal.SIGKILL)
            self._kill_at = None
            return
        self.process.signal(signal.SIGTERM)
        self._kill_at = self._clock() + grace

    def close(self) -> None:
        """The call's Exit was taken (or the worker gives up on it): the process goes back to the idle ones,
        or is killed when it cannot serve another call."""
        if self._exit is None:
            self.process.doomed = True
        self._launcher.release(self.process)


class WarmLauncher:
    """Call steps in warm slot processes (``runyard run --warm``)."""

    name = "warm"
    capabilities = Capabilities(own_process=True, process_tree=True, gpus=True, timeouts=True)

    def __init__(self, clock: Clock = time.monotonic, *, guardian: bool = True) -> None:
        self.clock = clock
        self._guarded = guardian
        self._guardian: Guardian | None = None
        self._environ: dict[str, str] | None = None
        self._idle: list[SlotProcess] = []  # oldest first
        self._busy: set[SlotProcess] = set()

    def start(self, request: LaunchRequest) -> WarmHandle:
        if not request.command.startswith(_CALL):  # what spec.calls renders (shlex costs 0.2 ms per step)
            raise LaunchError(f"cannot run step in a warm slot: only call steps do: {request.command}")
        if not os.path.isdir(request.cwd):
            raise LaunchError(f"cannot start step in {request.cwd}: no such folder")
        key: SlotKey = (request.env.get("CUDA_VISIBLE_DEVICES"), request.pythonpath_first)
        process = self._take(key)
        while True:
            if process is None:
                process = self._spawn(key, request)
            try:
                process.send(request)
                break
            except OSError:  # it died while idle
                process.close()
                process = None
        self._busy.add(process)
        return WarmHandle(self, process, timeout=request.timeout, grace=request.grace)

    def _take(self, key: SlotKey) -> SlotProcess | None:
        for process in list(self._idle):
            if process.key != key:
                continue
            self._idle.remove(process)
            if process.ended() is None and not process.changed():
                return process
            process.close()
        return None

    def _spawn(self, key: SlotKey, request: LaunchRequest) -> SlotProcess:
        if self._idle:  # never more processes than calls that ran at once
            self._idle.pop(0).close()
        if self._guarded and self._guardian is None:
            self._guardian = Guardian()
        if self._environ is None:
            self._environ = dict(os.environ)
        return SlotProcess(key, request, self._environ, self._guardian)

    def release(self, process: SlotProcess) -> None:
        self._busy.discard(process)
        if process.doomed:
            process.close()
        elif process not in self._idle:
            self._idle.append(process)

    @property
    def processes(self) -> list[SlotProcess]:
        """The slot processes, idle and busy."""
        return [*self._idle, *self._busy]

    def close(self) -> None:
        """End the idle slot processes (killed if they take more than a second), kill the busy ones, then stop
        the guardian."""
        for process in self._idle:
            process.close(wait=1.0)
        for process in self._busy:
            process.close()
        self._idle.clear()
        self._busy.clear()
        if self._guardian is not None:
            self._guardian.close()
            self._guardian = None
