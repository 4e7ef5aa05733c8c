"""What a worker reports while it works (to a progress display) and when it stops."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from runyard.model import Status
from runyard.store.base import ExecRecord

EventSink = Callable[["Event"], None]


@dataclass(frozen=True)
class Event:
    """What the worker tells its display: ``started``, ``finished`` (status done/failed/interrupted,
    or ready for a retry), ``lost`` (lease taken over), ``recovered`` (a dead worker's executions requeued),
    ``stopping`` (Ctrl-C: what happens to the running steps)."""

    kind: str
    record: ExecRecord | None = None
    status: Status | None = None
    message: str = ""
    slot: str = ""



@dataclass
class WorkerResult:
    done: int = 0
    failed: list[ExecRecord] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # attempts taken over by another worker: not recorded here
    retried: int = 0

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 1 if self.failed else 0  # a `runyard run` also fails on lost attempts (session.Outcome)


def stop_message(requests: int, running: int, grace: float) -> str:
    """What the n-th stop request (Ctrl-C) does to the ``running`` steps."""
    steps = f"{running} running step{'s' if running != 1 else ''}"
    if requests == 1:
        return f"stopping: nothing new starts; waiting for {steps} to finish (Ctrl-C again to terminate them)"
    if requests == 2:
        return f"terminating {steps} (SIGTERM, then SIGKILL after {grace:g} s; Ctrl-C again: at once)"
    return f"killing {steps}"
