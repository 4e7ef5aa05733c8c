"""Which ``running`` executions are lost: their worker is gone, and nobody has taken them back yet.

Readers (``runyard ls``, ``show``, ``status``) show these as ``lost`` at once, reading only: the store
keeps them ``running`` until a worker (or the next ``runyard run``) takes them back (DESIGN §10: a kill
never leaves an execution ``running`` forever, not even in what the user sees).

An execution is lost when its lease expired, when its worker's row is gone, or when its worker runs on
this host and its process is dead (the pid is gone, a zombie, or a reused pid started later).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable

from runyard.execute.processes import process_alive
from runyard.model import Status
from runyard.store.base import ExecRecord, RunRecord, WorkerRecord
from runyard.store.roles import ResultsReader

LOST = "lost"


def lost_keys(store: ResultsReader, experiment: str | None = None, *, host: str | None = None,
              now: float | None = None) -> set[str]:
    """Keys of the running executions (of ``experiment``, or all) whose worker is gone. Writes nothing."""
    running = store.executions(experiment, statuses=[Status.RUNNING])
    if not running:
        return set()
    return lost_among(running, store.workers(), host=host, now=now)


def lost_among(running: Iterable[ExecRecord], workers: Iterable[WorkerRecord], *, host: str | None = None,
               now: float | None = None) -> set[str]:
    now = time.time() if now is None else now
    host = socket.gethostname() if host is None else host
    by_id = {w.id: w for w in workers}
    dead = {w.id for w in by_id.values() if w.host == host and not process_alive(w.pid, started=w.started)}
    lost = set()
    for ex in running:
        if ex.status != Status.RUNNING:
            continue
        expired = ex.lease_expires is not None and ex.lease_expires < now
        if expired or ex.worker_id not in by_id or ex.worker_id in dead:
            lost.add(ex.key)
    return lost


def shown_status(status: Status, key: str, lost: set[str]) -> str:
    """What a reader shows for an execution: ``lost`` for a running one whose worker is gone."""
    return LOST if status == Status.RUNNING and key in lost else str(status)


def shown_run_status(run: RunRecord, lost: set[str]) -> str:
    """A run's status as shown: ``lost`` when it is ``running`` only through executions that are lost."""
    if run.status != Status.RUNNING:
        return str(run.status)
    live = [key for (_, key), status in zip(run.steps, run.statuses, strict=False)
            if status == Status.RUNNING and key not in lost]
    return str(run.status) if live else LOST
