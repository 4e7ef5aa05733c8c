"""The inline launcher (``runyard run --inline``): a call step runs inside the worker's own process, so
``breakpoint()`` and pdb work.

The step gets what a subprocess would: its ``RUNYARD_*`` variables and ``CUDA_VISIBLE_DEVICES`` in
``os.environ``, its workdir as the current folder, the spec's folder first on ``sys.path``; what it
prints goes to the terminal and to its log. The trade-offs (docs/python.md): one step at a time, the
modules it imports stay loaded (an edited module is not re-imported in the same process), output the
step writes to file descriptors 1 and 2 directly (C extensions, child processes) reaches only the
terminal, ``CUDA_VISIBLE_DEVICES`` has an effect only if CUDA was not initialised yet in this process,
and a timeout (a ``StepTimeout`` raised in the function) can only be enforced in the main thread.

As a launcher it is ``blocking``: :meth:`InlineLauncher.start` checks the request and returns at once; the
step runs during the handle's first :meth:`InlineHandle.poll`, in the worker's thread.  It has no process
of its own: no exit by signal, no process tree to kill, nothing that can be lost.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any

from runyard.errors import LaunchError
from runyard.execute import pycall
from runyard.execute.launchers.base import Capabilities, Clock, Exit, LaunchRequest

__all__ = ["InlineHandle", "InlineLauncher", "StepTimeout", "run_inline", "step_environment"]


class StepTimeout(BaseException):
    """Raised inside an inline step when its ``timeout`` passes (a BaseException: ``except Exception`` in the
    step does not swallow it)."""


class _Tee:
    """A text stream writing to the terminal's stream and to the step's log."""

    def __init__(self, stream: IO[str], log: IO[str]) -> None:
        self._stream = stream
        self._log = log

    def write(self, text: str) -> int:
        self._log.write(text)
        self._log.flush()
        return self._stream.write(text)

    def flush(self) -> None:
        self._log.flush()
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding ... of the terminal's stream
        return getattr(self._stream, name)


@contextlib.contextmanager
def step_environment(env: Mapping[str, str], cwd: str, folders: list[str]) -> Iterator[None]:
    """While the block runs: ``env`` in ``os.environ``, ``cwd`` as the current folder, ``folders`` first on
    ``sys.path``, a fresh ``runyard.log``; all put back after (a call step run in a process that goes on)."""
    from runyard import track

    saved_env = {k: os.environ.get(k) for k in env}
    saved_cwd, saved_path = os.getcwd(), list(sys.path)
    os.environ.update(env)
    sys.path[:0] = [f for f in dict.fromkeys(folders) if f and f not in sys.path]
    track.reset()  # runyard.log opens this step's metrics file
    try:
        os.chdir(cwd)
        yield
    finally:
        track.reset()
        os.chdir(saved_cwd)
        sys.path[:] = saved_path
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _signals(timeout: float | None) -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt in the step; ``timeout`` raises StepTimeout (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise StepTimeout()

    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    previous_alarm = signal.signal(signal.SIGALRM, expire) if timeout else None
    if timeout:
        signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        yield
    finally:
        if timeout:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous_alarm)
        signal.signal(signal.SIGINT, previous_int)


def run_inline(command: str, *, cwd: str, env: Mapping[str, str], log_path: str, spec_folder: str | None,
               timeout: float | None) -> tuple[int, str]:
    """Run the call step whose ``command`` is ``python -m runyard.call ...`` in this process.
    Returns (exit code, reason): reason ``""``, ``"timeout"`` or ``"interrupted"``."""
    argv = shlex.split(command)
    if argv[:3] != ["python", "-m", "runyard.call"]:
        raise ValueError(f"not a call step command: {command}")
    request = pycall.parse_args(argv[3:])
    folders = [f for f in (spec_folder, cwd) if f]
    with open(log_path, "a", encoding="utf-8") as log:
        out, err = sys.stdout, sys.stderr
        note: Callable[[str], None] = lambda text: print(pycall.NOTE + text, file=sys.stderr, flush=True)  # noqa: E731
        sys.stdout, sys.stderr = _Tee(out, log), _Tee(err, log)
        try:
            with step_environment(env, cwd, folders), _signals(timeout):
                return pycall.call(request, folders=folders, note=note), ""
        except StepTimeout:
            note(f"timed out after {timeout:g} s")
            return 124, "timeout"
        except KeyboardInterrupt:
            note("interrupted")
            return 130, "interrupted"
        finally:
            sys.stdout, sys.stderr = out, err


class InlineHandle:
    """A call step to run in this process: it runs during the first :meth:`poll`."""

    def __init__(self, request: LaunchRequest) -> None:
        self.request = request
        self.pid: int = os.getpid()
        self.pgid: int | None = None
        self.terminating = False
        self._exit: Exit | None = None

    def fileno(self) -> int | None:
        return None

    @property
    def due(self) -> float | None:
        return None

    def poll(self) -> Exit | None:
        if self._exit is None:
            self._exit = self._run()
        return self._exit

    def _run(self) -> Exit:
        request = self.request
        try:
            code, reason = run_inline(request.command, cwd=request.cwd, env=request.env, log_path=request.log_path,
                                      spec_folder=request.pythonpath_first, timeout=request.timeout)
        except Exception as err:  # runyard's side failed (the log cannot be opened ...): the step fails, loudly
            with contextlib.suppress(OSError), open(request.log_path, "a", encoding="utf-8") as log:
                log.write(f"runyard: could not run the step inline: {type(err).__name__}: {err}\n")
            return Exit(2)
        return Exit(code, reason)

    def terminate(self, grace: float) -> None:
        """Nothing to signal: a Ctrl-C reaches the step as KeyboardInterrupt, its timeout as StepTimeout."""

    def close(self) -> None:
        pass


class InlineLauncher:
    """Call steps in the worker's own process, one at a time (``runyard run --inline``)."""

    name = "inline"

    def __init__(self, clock: Clock | None = None) -> None:
        main = threading.current_thread() is threading.main_thread()
        limits = {"own_process": "the step runs in the worker's own process",
                  "process_tree": "the step runs in the worker's own process: there is no tree of its own to kill"}
        if not main:
            limits["timeouts"] = "a timeout is enforced by SIGALRM, in the main thread only"
        self.capabilities = Capabilities(own_process=False, process_tree=False, gpus=True, timeouts=main,
                                         blocking=True, limits=limits)

    def start(self, request: LaunchRequest) -> InlineHandle:
        if shlex.split(request.command)[:3] != ["python", "-m", "runyard.call"]:
            raise LaunchError(f"cannot run step inline: only call steps run in the worker's process: {request.command}")
        if not os.path.isdir(request.cwd):
            raise LaunchError(f"cannot start step in {request.cwd}: no such folder")
        return InlineHandle(request)

    def close(self) -> None:
        pass
