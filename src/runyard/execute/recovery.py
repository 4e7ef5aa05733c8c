"""Taking back what dead workers held (DESIGN §5, §10: no execution stays ``running`` forever)."""

from __future__ import annotations

from runyard.execute.events import Event, EventSink
from runyard.execute.launch import kill_orphan_group, process_alive
from runyard.model import Status
from runyard.store.base import Store


def recover(store: Store, worker_id: str, host: str, emit: EventSink) -> None:
    """Requeue what dead workers held: expired leases anywhere, and at once for dead pids on ``host``.

    A worker calls this when it starts and with every heartbeat, so a worker draining an experiment
    does not wait forever for executions whose worker died while it ran. The orphaned process groups of
    a dead worker on this host are killed, but only with their launch time, so that a reused pgid is
    never signalled."""
    for key in store.reap():
        emit(Event("recovered", message=f"{key[:12]}: its worker stopped renewing the lease; taken back"))
    for worker in store.workers():
        if worker.id == worker_id or worker.host != host or process_alive(worker.pid, started=worker.started):
            continue
        held = {ex.key: ex for ex in store.executions(statuses=[Status.RUNNING]) if ex.worker_id == worker.id}
        for reaped in store.reap_worker(worker.id):
            ex = held.get(reaped.key)
            if reaped.pgid and reaped.host == host and ex is not None and ex.started is not None:
                kill_orphan_group(reaped.pgid, expected_start=ex.started)
            what = f"{ex.step} {ex.short}" if ex is not None else reaped.key[:12]
            emit(Event("recovered", status=reaped.status,
                       message=f"{what}: its worker (pid {worker.pid}) died while it ran; taken back"))
