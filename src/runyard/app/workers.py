"""``runyard worker``: a worker wired with what the use cases add to it (aggregate run tables, the
``select:`` stage) on this machine's slots."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from runyard.app.finals import FinalStage
from runyard.app.runs_table import ENV as RUNS_ENV
from runyard.app.runs_table import runs_table_for_launch
from runyard.execute.events import EventSink
from runyard.execute.tuning import Tuning
from runyard.execute.worker import Hooks, Worker
from runyard.store.base import ExecRecord, Store

if TYPE_CHECKING:
    from runyard.app.executors import Executor
    from runyard.execute.slots import SlotPool


PRUNE_ENV = "RUNYARD_PRUNE"  # the file whose existence ``runyard.should_prune()`` reports


def _launch_env(store: Store, record: ExecRecord) -> dict[str, str]:
    """An aggregate step finds the table of the runs it covers at ``$RUNYARD_RUNS``; every step learns
    where its pruning flag would be (``$RUNYARD_PRUNE``)."""
    from runyard.layout import ExecutionPaths

    env = {PRUNE_ENV: ExecutionPaths(record.folder).prune_flag}
    if record.kind == "aggregate":
        env[RUNS_ENV] = runs_table_for_launch(store, record)
    return env


def _final_stage(store: Store, emit: EventSink) -> FinalStage:
    return FinalStage(store, emit)


def worker_hooks(*, final_stage: bool = False,
                 tuning: Callable[[Store, str, EventSink], Tuning] | None = None) -> Hooks:
    """The hooks of every worker; with ``final_stage``, the worker that records an experiment's last
    step also runs its ``select:`` stage (``runyard worker``); ``tuning``: it takes trials of the open
    studies (``app.tuning.tuning_hook``)."""
    if final_stage:
        return Hooks(launch_env=_launch_env, after_record=lambda store, emit: _final_stage(store, emit).after,
                     tuning=tuning)
    return Hooks(launch_env=_launch_env, tuning=tuning)


def worker_pool(gpus: str, *, per_gpu: int = 1, jobs: int | None = None, fake_gpus: bool = False,
                executor: Executor | None = None) -> tuple[SlotPool, str | None]:
    """The slots of a worker given ``--gpus`` (``auto`` detects them; indices given by hand are checked,
    see :func:`runyard.execute.slots.verify_gpus`), and a warning to show, or None.  An ``executor`` that
    decides the slots (Ray: the cluster's GPUs and CPUs) gives them instead."""
    if executor is not None and executor.pool is not None:
        return executor.pool, None
    from runyard.app.planning import check_gpus
    from runyard.execute.slots import SlotPool, detect_gpus, parse_gpus

    chosen = parse_gpus(gpus)
    warning = None if chosen is None else check_gpus(chosen, source="--gpus", fake=fake_gpus)
    return SlotPool(detect_gpus() if chosen is None else chosen, per_gpu=per_gpu, jobs=jobs), warning


def make_worker(store: Store, pool: SlotPool, experiments: Sequence[str] = (), *, lease_seconds: float,
                 grace: float, poll_interval: float, store_timeout: float, on_event: EventSink,
                 max_executions: int | None = None, launcher: str = "local", warm: bool = False) -> Worker:
    """A worker of every experiment of ``store`` (or of ``experiments``: RunNotFound, with suggestions,
    for an unknown name rather than an idle worker) that runs the final stage of what it drains, its
    steps started through ``launcher`` (an executor's: :func:`runyard.app.executors.opened`)."""
    for name in experiments:
        store.experiment(name)
    return Worker(store, pool, experiment=list(experiments) or None, lease_seconds=lease_seconds, grace=grace,
                  poll_interval=poll_interval, on_event=on_event, max_executions=max_executions,
                  hooks=worker_hooks(final_stage=True, tuning=_tuning(experiments)), store_timeout=store_timeout,
                  launcher=launcher, warm=warm)


def _tuning(experiments: Sequence[str]) -> Callable[[Store, str, EventSink], Tuning]:
    """A worker takes trials of the studies submitted to the queue (``runyard submit --tune``)."""
    from runyard.app.tuning import tuning_hook

    return tuning_hook(experiments=list(experiments) or None)
