"""Results that a worker could not write because its store was unreachable (DESIGN §10).

A worker that gives up on its store (``--store-timeout``, exit 75) or is stopped during an outage leaves
the results of the steps that ended meanwhile in their ``meta.json``, marked ``"unrecorded": "<status>"``.
The store still holds those executions as ``running`` by that worker. Before anything takes them back
(which would run them again), :func:`record_unwritten` records those results: the metrics are read again
from the step's files, then the result is written with the time the step really ended.

Only the executions of workers that are gone are looked at (dead pid on this host, or lease expired): a
live worker writes its own results once the store is back.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from typing import Any

from runyard.execute import files
from runyard.execute.events import Event, EventSink
from runyard.execute.ingest import metric_warning, replay
from runyard.execute.processes import process_alive
from runyard.execute.recording import UNRECORDED
from runyard.layout import ExecutionPaths
from runyard.model import Status
from runyard.store.base import ExecRecord, Store, WorkerRecord


def record_unwritten(store: Store, workers: Iterable[WorkerRecord], host: str, emit: EventSink, *,
                     me: str = "") -> int:
    """Record the results kept in ``meta.json`` by gone workers (never ``me``'s own: it writes them
    itself); returns how many were recorded."""
    now = time.time()
    gone = {w.id for w in workers if w.id != me
            and (not w.alive(now) or (w.host == host and not process_alive(w.pid, started=w.started)))}
    if not gone:
        return 0
    recorded = 0
    for ex in store.executions(statuses=[Status.RUNNING]):
        if ex.worker_id not in gone:
            continue
        meta = _unwritten_meta(ex)
        if meta is not None and _record(store, ex, meta):
            recorded += 1
            emit(Event("recovered", message=f"{ex.step} {ex.short}: its result (exit code {meta.get('exit_code')}), "
                                            "kept in meta.json while the store was unreachable, is recorded"))
    return recorded


def _unwritten_meta(ex: ExecRecord) -> dict[str, Any] | None:
    """``meta.json`` of ``ex`` when it holds an unrecorded result of the attempt the store knows."""
    try:
        with open(ExecutionPaths(ex.folder).meta, encoding="utf-8") as handle:
            meta = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or not meta.get(UNRECORDED):
        return None
    if meta.get("worker") != ex.worker_id or meta.get("attempt") != ex.attempts:
        return None
    try:
        Status(meta[UNRECORDED])
        float(meta["ended"])
    except (KeyError, ValueError, TypeError):
        return None
    return meta


def _record(store: Store, ex: ExecRecord, meta: dict[str, Any]) -> bool:
    from runyard.spec.metrics import metric_specs

    stored = store.experiment(ex.experiment)
    spec_folder = os.path.dirname(stored.spec_path) if os.path.isabs(stored.spec_path) else None
    found = meta.get("metrics_from")
    offsets: dict[str, Any] = found if isinstance(found, dict) else {}
    problems: list[str] = []
    try:
        _, problems, warnings = replay(store, ex, metric_specs(stored.spec), log_offset=int(offsets.get("log", 0)),
                                       metrics_offset=int(offsets.get("metrics", 0)), spec_folder=spec_folder)
        problems += warnings
    except (OSError, ValueError) as err:
        problems = [f"metrics were not stored: {err} (runyard reparse reads them again)"]
    provenance = meta.get("provenance") if isinstance(meta.get("provenance"), dict) else None
    code = meta.get("exit_code")
    error = meta.get("error")
    if problems and meta[UNRECORDED] == str(Status.DONE):
        error = metric_warning(problems)  # a done step's error field holds its metrics warning
    updated = store.finish(ex.key, str(ex.worker_id), status=Status(meta[UNRECORDED]),
                           exit_code=code if isinstance(code, int) else None, error=error,
                           provenance=provenance, ended=float(meta["ended"]))
    if updated is None:
        return False
    state = {k: v for k, v in meta.items() if k not in (UNRECORDED, "status", "duration", "ended")}
    if problems:
        state["metric_problems"] = problems
    files.write_json(ExecutionPaths(ex.folder).meta,
                     {**state, "status": str(updated.status), "ended": updated.ended, "duration": updated.duration},
                     levels=1)
    return True
