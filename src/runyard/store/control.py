"""Control of queued and running work in the SQL store: cancel, who holds what, and wake-ups.

Wake-ups: on PostgreSQL every change that may give a worker something to do (work became ready,
an experiment was resumed, a lease expired) or to stop (a cancel) sends ``NOTIFY runyard`` in its
transaction; a worker waits on a :class:`Listener` next to its children. SQLite has no such channel:
its workers poll (cheaply: a claim on an empty queue reads one index page).
"""

from __future__ import annotations

import contextlib
import select as _select
from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, and_, bindparam, select, update

from runyard.model import Status
from runyard.store import schema
from runyard.store.base import Cancelled
from runyard.store.engine import CHANNEL, SqlCore
from runyard.store.submit import chunks

_X, _RS = schema.executions, schema.run_steps
RUNNING = Status.RUNNING.value
_UNFINISHED = (Status.WAITING.value, Status.READY.value, RUNNING)


class ControlMixin(SqlCore):
    def cancel(self, experiment: str, run_ids: Collection[str] | None = None) -> Cancelled:
        """Cancel the unfinished executions of ``experiment`` (of ``run_ids`` only, when given:
        executions those runs share with other runs of the experiment are left alone), and every
        waiting execution that needs a cancelled one (it could never start). Compare-and-set: an
        execution that finishes meanwhile keeps its result."""
        now = self.clock()
        with self.tx() as conn:
            keys = self._cancel_targets(conn, experiment, run_ids)
            keys = self._with_waiting_dependents(conn, keys)
            cancelled: list[str] = []
            running: list[str] = []
            for part in chunks(sorted(keys)):
                busy = set(conn.execute(select(_X.c.key).where(_X.c.key.in_(part), _X.c.status == RUNNING)).scalars())
                stmt = (
                    update(_X)
                    .where(_X.c.key.in_(part), _X.c.status.in_(_UNFINISHED))
                    .values(status=Status.CANCELLED.value, lease_expires=None, ended=now, error="cancelled")
                    .returning(_X.c.key)
                )
                for key in conn.execute(stmt).scalars():
                    cancelled.append(key)
                    if key in busy:
                        running.append(key)
            if cancelled:
                self.notify(conn, f"cancel:{experiment}")
        return Cancelled(tuple(sorted(cancelled)), tuple(sorted(running)))

    def _cancel_targets(self, conn: Connection, experiment: str, run_ids: Collection[str] | None) -> set[str]:
        if run_ids is None:
            stmt = select(_X.c.key).where(_X.c.experiment == experiment, _X.c.status.in_(_UNFINISHED))
            return set(conn.execute(stmt).scalars())
        chosen = set(run_ids)
        mine: set[str] = set()
        for part in chunks(sorted(chosen)):
            mine.update(conn.execute(select(_RS.c.exec_key).where(_RS.c.run_id.in_(part))).scalars())
        shared: set[str] = set()
        for part in chunks(sorted(mine)):
            stmt = select(_RS.c.exec_key, _RS.c.run_id).where(_RS.c.exec_key.in_(part))
            shared.update(key for key, run in conn.execute(stmt) if run not in chosen)
        return mine - shared

    def _with_waiting_dependents(self, conn: Connection, keys: set[str]) -> set[str]:
        n = schema.exec_needs
        frontier, found = set(keys), set(keys)
        while frontier:
            nxt: set[str] = set()
            for part in chunks(sorted(frontier)):
                stmt = (
                    select(n.c.key)
                    .select_from(n.join(_X, _X.c.key == n.c.key))
                    .where(n.c.need_key.in_(part), _X.c.status == Status.WAITING.value)
                )
                nxt.update(conn.execute(stmt).scalars())
            frontier = nxt - found
            found |= frontier
        return found

    def holders(self, keys: Collection[str]) -> dict[str, tuple[Status, str | None]]:
        """Status and owning worker of each of ``keys`` (a worker's check on the steps it runs)."""
        found: dict[str, tuple[Status, str | None]] = {}
        stmt = select(_X.c.key, _X.c.status, _X.c.worker_id).where(_X.c.key.in_(bindparam("keys", expanding=True)))
        with self.auto() as conn:
            for part in chunks(sorted(keys)):
                for key, status, worker in conn.execute(stmt, {"keys": list(part)}):
                    found[key] = (Status(status), worker)
        return found

    def set_priority(self, experiment: str, priority: int) -> int:
        """Give every queued (ready or waiting) execution of ``experiment`` this priority; returns how many."""
        where = and_(_X.c.experiment == experiment, _X.c.status.in_((Status.READY.value, Status.WAITING.value)))
        with self.tx() as conn:
            count = conn.execute(update(_X).where(where).values(priority=priority)).rowcount
            if count:
                self.notify(conn, f"ready:{experiment}")
        return int(count)

    def listener(self) -> Listener | None:
        """A wake-up channel for a worker (PostgreSQL), or None (SQLite: poll)."""
        if not self.is_pg:
            return None
        return Listener(self._engine.url.render_as_string(hide_password=False))


class Listener:
    """``LISTEN runyard`` on a connection of its own. :meth:`fileno` can wait in a selector; after
    it is readable, :meth:`drain` returns the payloads received. A lost connection is reopened by
    :meth:`drain` / :meth:`reconnect`; meanwhile :attr:`alive` is False and the worker polls."""

    def __init__(self, url: str) -> None:
        self._url = url.replace("postgresql+psycopg://", "postgresql://", 1)
        self._conn: Any = None
        self.reconnect()

    @property
    def alive(self) -> bool:
        return self._conn is not None

    def reconnect(self) -> bool:
        import psycopg

        self.close()
        try:
            # TCP keepalives: a link that died silently (a dropped proxy, a vanished host) is found dead
            # within a minute and reopened, instead of waiting forever for notifications
            conn = psycopg.connect(self._url, autocommit=True, connect_timeout=5, application_name="runyard-listen",
                                   keepalives=1, keepalives_idle=20, keepalives_interval=10, keepalives_count=3)
            conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error:
            return False
        self._conn = conn
        return True

    def fileno(self) -> int:
        return int(self._conn.fileno()) if self._conn is not None else -1

    def drain(self) -> list[str]:
        """Every notification received so far (without blocking); [] and not alive if the link broke."""
        if self._conn is None:
            return []
        pgconn = self._conn.pgconn
        payloads: list[str] = []
        try:
            pgconn.consume_input()
            while (note := pgconn.notifies()) is not None:
                payloads.append(bytes(note.extra).decode("utf-8", "replace"))
        except Exception:
            self.close()
        return payloads

    def wait(self, timeout: float) -> list[str]:
        """Block until a notification arrives or ``timeout`` passes (for callers without a selector)."""
        if self._conn is None:
            return []
        with contextlib.suppress(OSError, ValueError):
            _select.select([self.fileno()], [], [], timeout)
        return self.drain()

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
