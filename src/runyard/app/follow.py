"""``runyard logs -f`` on a step that has not started yet: wait for it to start, or say why it never will."""

from __future__ import annotations

import time

from runyard.model import Status
from runyard.store.base import Store
from runyard.store.records import ExecRecord

NOT_STARTED = (Status.WAITING, Status.READY)


def blocked_by(store: Store, record: ExecRecord, seen: set[str] | None = None) -> ExecRecord | None:
    """An upstream execution (of any depth) that ended without success, so the waiting ``record`` will never
    start; None when nothing blocks it."""
    seen = set() if seen is None else seen
    for key in record.needs:
        if key in seen:
            continue
        seen.add(key)
        upstream = store.execution(key)
        if upstream.status.finished and upstream.status != Status.DONE:
            return upstream
        if upstream.status == Status.WAITING:
            deeper = blocked_by(store, upstream, seen)
            if deeper is not None:
                return deeper
    return None


def wait_to_start(store: Store, key: str, poll: float = 0.3) -> tuple[ExecRecord, ExecRecord | None]:
    """Wait until the execution ``key`` has started (or ended): its record, and None; or, when an upstream
    execution ended without success so it never will, its record and that upstream's."""
    while True:
        record = store.execution(key)
        if record.status not in NOT_STARTED:
            return record, None
        blocker = blocked_by(store, record)
        if blocker is not None:
            return record, blocker
        time.sleep(poll)
