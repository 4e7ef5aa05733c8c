"""What tuning plugs into a worker: the :class:`Tuning` protocol (``app.tuning.Tuner`` implements it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from runyard.store.base import ExecRecord

PRUNED = "pruned"  # why a step was stopped: the tuner pruned its trial


class Tuning(Protocol):
    """What tuning plugs into a worker (``app.tuning.Tuner``): ``feed(free)`` submits up to ``free`` new
    trials right before the worker claims; ``prune(keys)`` names the running executions to stop (key →
    reason); ``recorded(record)`` hears of every recorded execution; ``pending`` says more may come from
    this worker; ``busy(experiment)`` says a study of the experiment has trials to ask or running (its
    ``select:`` stage waits until it has not)."""

    def feed(self, free: int) -> int: ...
    def prune(self, running: Sequence[str]) -> dict[str, str]: ...
    def recorded(self, record: ExecRecord) -> None: ...
    def busy(self, experiment: str) -> bool: ...
    @property
    def pending(self) -> bool: ...
