"""Taking back what dead workers held (DESIGN §5, §10: no execution stays ``running`` forever; at most
one live execution per key)."""

from __future__ import annotations

import time

from runyard.execute.events import Event, EventSink
from runyard.execute.processes import kill_orphan_group, process_alive
from runyard.execute.unwritten import record_unwritten
from runyard.model import Status
from runyard.store.base import ExecRecord, Store, WorkerRecord


def recover(store: Store, worker_id: str, host: str, emit: EventSink) -> None:
    """Requeue what dead workers held: expired leases anywhere, and at once for dead pids on ``host``.

    A worker calls this when it starts and with every heartbeat, so a worker draining an experiment
    does not wait forever for executions whose worker died while it ran. The orphaned process groups of
    a dead worker on this host are killed, but only with their launch time, so that a reused pgid is
    never signalled. So are the steps of a worker on this host that is alive but stopped renewing its
    lease (frozen, stopped, stuck): once taken back they will run again, and the old attempt must not
    run on beside the new one (it could not record its result anyway)."""
    workers = store.workers()
    # results a gone worker kept in meta.json are recorded before anything is taken back (and run again)
    record_unwritten(store, workers, host, emit, me=worker_id)
    stalled = _stalled_here(store, workers, worker_id, host)
    for key in store.reap():
        ex = stalled.get(key)
        stopped = ex is not None and ex.pgid is not None and ex.started is not None and kill_orphan_group(
            ex.pgid, expected_start=ex.started)
        emit(Event("recovered", message=f"{key[:12]}: lost: its worker stopped renewing the lease; taken back"
                                        + ("; its process group on this host was killed" if stopped else "")))
    for worker in workers:
        if worker.id == worker_id or worker.host != host or process_alive(worker.pid, started=worker.started):
            continue
        held = {ex.key: ex for ex in store.executions(statuses=[Status.RUNNING]) if ex.worker_id == worker.id}
        for reaped in store.reap_worker(worker.id):
            ex = held.get(reaped.key)
            if reaped.pgid and reaped.host == host and ex is not None and ex.started is not None:
                kill_orphan_group(reaped.pgid, expected_start=ex.started)
            what = f"{ex.step} {ex.short}" if ex is not None else reaped.key[:12]
            emit(Event("recovered", status=reaped.status,
                       message=f"{what}: lost: its worker (pid {worker.pid}) died while it ran; taken back"
                               + ("" if reaped.status == Status.READY else f" and failed ({reaped.status})")))


def _stalled_here(store: Store, workers: list[WorkerRecord], worker_id: str, host: str) -> dict[str, ExecRecord]:
    """The executions run on ``host`` by live workers whose lease expired (their steps' process groups)."""
    now = time.time()
    keys = [key for w in workers if w.id != worker_id and w.host == host and w.running and not w.alive(now)
            and process_alive(w.pid, started=w.started) for key in w.running]
    if not keys:
        return {}
    return {ex.key: ex for ex in store.executions(keys=keys, statuses=[Status.RUNNING]) if ex.host == host}
