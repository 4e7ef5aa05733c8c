"""A worker wired with what the use cases add to it: aggregate run tables and the ``select:`` stage."""

from __future__ import annotations

from runyard.app.finals import FinalStage
from runyard.app.runs_table import ENV as RUNS_ENV
from runyard.app.runs_table import runs_table_for_launch
from runyard.execute.events import EventSink
from runyard.execute.worker import Hooks
from runyard.store.base import ExecRecord, Store


def _launch_env(store: Store, record: ExecRecord) -> dict[str, str]:
    """An aggregate step finds the table of the runs it covers at ``$RUNYARD_RUNS``."""
    return {RUNS_ENV: runs_table_for_launch(store, record)} if record.kind == "aggregate" else {}


def _final_stage(store: Store, emit: EventSink) -> FinalStage:
    return FinalStage(store, emit)


def worker_hooks(*, final_stage: bool = False) -> Hooks:
    """The hooks of every worker; with ``final_stage``, the worker that records an experiment's last
    step also runs its ``select:`` stage (``runyard worker``)."""
    if final_stage:
        return Hooks(launch_env=_launch_env, after_record=lambda store, emit: _final_stage(store, emit).after)
    return Hooks(launch_env=_launch_env)
