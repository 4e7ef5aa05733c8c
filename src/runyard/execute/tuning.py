"""What tuning plugs into a worker: the :class:`Tuning` protocol (``app.tuning.Tuner`` implements it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

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


def after_tuning(after: Callable[[ExecRecord], int] | None, tuning: Tuning | None,
                 safe: Callable[[Callable[[], Any]], Any]) -> Callable[[ExecRecord], object] | None:
    """What a worker runs after recording an execution: the tuner hears of it first (its trial may end),
    then ``after`` (the ``select:`` stage), unless a study of the experiment is still going. ``safe``
    runs a store call under the worker's retry policy."""
    if tuning is None:
        return after

    def both(record: ExecRecord) -> object:
        safe(lambda: tuning.recorded(record))
        if after is None or safe(lambda: tuning.busy(record.experiment)) is not False:
            return 0  # a study still going: its final stage comes after its last trial
        return after(record)
    return both
