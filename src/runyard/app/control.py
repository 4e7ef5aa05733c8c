"""Control queued and running work from any machine: pause, resume, cancel, re-prioritise."""

from __future__ import annotations

from dataclasses import dataclass

from runyard.errors import RunNotFound
from runyard.model import Status
from runyard.store.base import Store


def set_paused(store: Store, experiment: str, paused: bool) -> tuple[int, int]:
    """Pause (or resume) ``experiment``: workers start none (or again) of its queued steps. Returns how
    many step executions are queued and running."""
    store.pause(experiment, paused)
    counts = store.counts(experiment)
    return counts[Status.READY] + counts[Status.WAITING], counts[Status.RUNNING]


@dataclass(frozen=True)
class Cancelled:
    what: str  # "experiment NAME" or "run NAME (ID) of EXPERIMENT"
    keys: tuple[str, ...]
    running: tuple[str, ...]  # those being terminated
    hosts: tuple[str, ...]  # where they run


def cancel(store: Store, target: str, experiment: str | None = None) -> Cancelled:
    """Cancel the unfinished steps of experiment ``target``, or of run ``target`` (what it shares with
    other runs goes on); running ones are terminated by the worker that runs them."""
    if experiment is None and target in store.experiments():
        result = store.cancel(target)
        what = f"experiment {target}"
    else:
        from runyard.app.targets import exec_label, resolve

        try:
            found = resolve(store, target, experiment)
        except RunNotFound as err:
            if experiment is not None:
                raise
            names = ", ".join(store.experiments()) or "none yet"
            raise RunNotFound(f"{err}; nor is it an experiment (experiments: {names})") from None
        run = found.run
        if found.execution is None:
            result = store.cancel(run.experiment, [run.id])
            what = f"run {run.name} ({run.short}) of {run.experiment}"
        else:  # a step execution: the runs holding it (what they share with other runs goes on)
            result = store.cancel(run.experiment, [r.id for r in found.runs])
            label = exec_label(found.execution.step, [r.name for r in found.runs], found.execution.key)
            what = f"step execution {label} of {run.experiment}"
    hosts = sorted({store.execution(k).host or "?" for k in result.running})
    return Cancelled(what, tuple(result.keys), tuple(result.running), tuple(hosts))


def set_priority(store: Store, experiment: str, priority: int) -> int:
    """Give ``experiment``'s queued steps ``priority``; how many there are."""
    store.experiment(experiment)  # an unknown name is an error, with suggestions
    return store.set_priority(experiment, priority)
