"""What a launcher is: it starts one execution on a slot, lets the worker watch it, and terminates its whole
process tree with a grace period.  The worker knows only this.

A launcher's :meth:`Launcher.start` takes a :class:`LaunchRequest` and returns a :class:`Handle`. The worker
waits on ``handle.fileno()`` in its selector next to every other child (or, where there is none, polls at
its poll interval and at ``handle.due``), calls :meth:`Handle.poll` when woken, and gets an :class:`Exit`
once the execution is over: its code, whether the launcher stopped it at its timeout, or that it was
*lost* (it vanished without an exit status that can be trusted).  Nothing here costs a thread, a process
or a file write per step: a launcher that needs one says so in its own module.

Every launcher passes the contract suite in :mod:`runyard.testing.launcher_contract`; its
:class:`Capabilities` decide which of those tests apply.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["Capabilities", "Clock", "Exit", "Handle", "LaunchRequest", "Launcher", "heartbeats"]

#: Seconds, monotonic: ``time.monotonic`` unless a test drives time itself.
Clock = Callable[[], float]


@dataclass(frozen=True)
class Capabilities:
    """What a launcher can do: the worker and the contract suite go by it."""

    #: the step runs in a process of its own: exit codes by signal (``128 + N``), output written straight
    #: to file descriptors 1 and 2 reaches the log, and its process can be lost
    own_process: bool
    #: :meth:`Handle.terminate` reaches every process the step started (grandchildren too): a process
    #: group of its own, or the remote system's equivalent
    process_tree: bool
    #: the step sees the slot's ``CUDA_VISIBLE_DEVICES`` before it initialises CUDA
    gpus: bool
    #: ``request.timeout`` is enforced: the step is terminated then, its exit marked ``timeout``
    timeouts: bool
    #: the step may run on another machine: home must be on a filesystem both see
    remote_files: bool = False
    #: the step runs in the worker's own thread, during the first :meth:`Handle.poll` (one at a time; the
    #: worker keeps its leases alive meanwhile with :func:`heartbeats`)
    blocking: bool = False
    #: why a capability is missing, for the contract suite's skip messages
    limits: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LaunchRequest:
    """One execution to start: the command exactly as recorded (a call step's is ``python -m runyard.call
    ...``), where, with which environment, and how long it may run."""

    command: str
    cwd: str
    log_path: str  # stdout and stderr are appended to it
    env: Mapping[str, str]  # added to the worker's environment (RUNYARD_*, CUDA_VISIBLE_DEVICES, PATH ...)
    pythonpath_first: str | None = None  # the spec's folder, put first on PYTHONPATH
    timeout: float | None = None  # seconds from the start
    grace: float = 10.0  # after a timeout's SIGTERM, seconds before SIGKILL
    kind: str = "command"  # the step's kind: "command", "call" or "aggregate"


@dataclass(frozen=True)
class Exit:
    """How an execution ended.  ``code``: the exit status, or ``128 + N`` when killed by signal N; None when
    lost.  ``reason``: ``"timeout"`` (the launcher stopped it at ``request.timeout``), ``"interrupted"`` (Ctrl-C
    reached a step run in the worker's process) or ``""``.  ``lost``: why the exit status is unknown (the
    process vanished: reaped by someone else, its node gone ...), or None."""

    code: int | None
    reason: str = ""
    lost: str | None = None


class Handle(Protocol):
    """One started execution."""

    #: recorded in the store: the step's process, or the worker's own when the step has none on this host;
    #: the recovery of a dead worker on this host kills the group ``pgid`` (None: no group of its own here)
    pid: int
    pgid: int | None
    #: :meth:`terminate` was called, by the worker or by the handle itself at the step's timeout
    terminating: bool

    def fileno(self) -> int | None:
        """A descriptor readable once the execution may be over (then :meth:`poll`), or None: poll it."""

    @property
    def due(self) -> float | None:
        """The next moment (on the launcher's clock) at which :meth:`poll` must run even if nothing woke
        the worker: a timeout, the end of a grace period; None when there is none."""

    def poll(self) -> Exit | None:
        """Without blocking (unless the launcher is ``blocking``): the :class:`Exit` once the execution is
        over, else None.  Enforces the timeout and the grace period of :meth:`terminate`.  The whole tree is
        gone when it returns an Exit (what outlived the leader is killed)."""

    def terminate(self, grace: float) -> None:
        """Stop the execution: SIGTERM (or the like) to its whole tree now, SIGKILL to what is left once
        ``grace`` seconds have passed (at the first :meth:`poll` after).  ``grace <= 0``: SIGKILL now.
        Calling it again starts the grace period again.  Does not wait."""

    def close(self) -> None:
        """Release what the handle holds (its descriptor) once its Exit was taken."""


class Launcher(Protocol):
    """Starts executions.  Built by :func:`runyard.execute.launchers.open_launcher` with the worker's clock."""

    name: str
    capabilities: Capabilities

    def start(self, request: LaunchRequest) -> Handle:
        """Start ``request``; raises :class:`~runyard.errors.LaunchError` (or
        :class:`~runyard.errors.DiskFull`) when it cannot, saying why."""

    def close(self) -> None:
        """The worker is done: kill what still runs and release what the launcher holds."""


@contextlib.contextmanager
def heartbeats(beat: Callable[[], object], *, every: float) -> Iterator[None]:
    """Call ``beat`` every ``every`` seconds in a thread while the block runs: a worker runs a blocking
    launcher's step in its own thread, and its leases must not expire meanwhile."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            beat()

    thread = threading.Thread(target=loop, name="runyard-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
