"""The SQL store (SQLite and PostgreSQL through SQLAlchemy Core): scheduling and workers.

Submission lives in ``submit.py``, queries in ``queries.py``, metrics in ``metrics.py``. Every
method here is one short transaction of one to three statements, built once per store.

Concurrency: on SQLite every write transaction starts with ``BEGIN IMMEDIATE`` (one writer at a
time, readers never blocked thanks to WAL). On PostgreSQL, claim uses ``FOR UPDATE SKIP LOCKED``;
status changes are compare-and-set ``UPDATE … WHERE status = …``; making dependents ready first
locks them (so two upstreams finishing at once cannot both miss the other); submit locks the
executions table against other writers for its one transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    case,
    delete,
    exists,
    insert,
    literal,
    or_,
    select,
    update,
)

from runyard.model import Status, WorkerInfo
from runyard.store import schema
from runyard.store.base import LOST_LIMIT, ExecRecord, Reaped
from runyard.store.control import ControlMixin
from runyard.store.engine import SqlCore, dumps, exec_record
from runyard.store.metrics import MetricsMixin
from runyard.store.past import PastMixin
from runyard.store.queries import QueryMixin
from runyard.store.results import ResultsMixin
from runyard.store.submit import SubmitMixin
from runyard.store.trials import TrialsMixin

_X = schema.executions
_N = schema.exec_needs
_W = schema.workers
_E = schema.experiments
RUNNING = Status.RUNNING.value
CLAIM_WINDOW_MAX = 256  # candidates looked at per claim, at most
FINISHED = (Status.DONE, Status.FAILED, Status.INTERRUPTED, Status.CANCELLED)


def _retry_or_fail() -> Any:
    """New status of a running execution that failed: a retry while its failures (attempts that were
    not lost) ≤ retries."""
    return case((_X.c.attempts - _X.c.lost <= _X.c.retries, Status.READY.value), else_=Status.FAILED.value)


def _requeue_or_give_up() -> Any:
    """New status of a running execution whose worker was lost: ready again whatever ``retries`` says
    (the step did not fail), failed once its worker was lost :data:`LOST_LIMIT` times."""
    return case((_X.c.lost + 1 < LOST_LIMIT, Status.READY.value), else_=Status.FAILED.value)


#: What a claim clears of the previous attempt (in the row and in the records it returns).
CLEARED_ON_CLAIM: dict[str, Any] = dict.fromkeys(
    ("host", "pid", "pgid", "exit_code", "ended", "duration", "error", "command_env")
)


class SqlStore(SubmitMixin, QueryMixin, MetricsMixin, ResultsMixin, ControlMixin, PastMixin, TrialsMixin, SqlCore):
    """A :class:`~runyard.store.base.Store` on SQLite or PostgreSQL. Open it with
    :func:`runyard.store.open_store`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._build_statements()

    def _build_statements(self) -> None:
        paused = select(_E.c.name).where(_E.c.paused.is_(True))
        est = _X.c.est_duration.desc().nulls_last() if self.is_pg else _X.c.est_duration.desc()
        pick = (
            select(_X)
            .where(_X.c.status == Status.READY.value, _X.c.experiment.not_in(paused))
            .order_by(_X.c.priority.desc(), est, _X.c.seq)
            .limit(bindparam("window"))
        )
        if self.is_pg:
            pick = pick.with_for_update(skip_locked=True, of=_X)
        self._pick_any = pick
        self._pick_one = pick.where(_X.c.experiment == bindparam("exp"))
        self._pick_some = pick.where(_X.c.experiment.in_(bindparam("exps", expanding=True)))
        self._take = (
            update(_X)
            .where(_X.c.key.in_(bindparam("keys", expanding=True)), _X.c.status == Status.READY.value)
            .values(
                status=RUNNING,
                worker_id=bindparam("worker"),
                attempts=_X.c.attempts + 1,
                started=bindparam("now"),
                lease_expires=bindparam("lease"),
                **CLEARED_ON_CLAIM,
            )
        )
        owned = and_(
            _X.c.key == bindparam("b_key"),
            _X.c.status == RUNNING,
            _X.c.worker_id == bindparam("b_worker"),
        )
        self._started = (
            update(_X)
            .where(owned)
            .values(
                pid=bindparam("pid"),
                pgid=bindparam("pgid"),
                host=bindparam("host"),
                command_env=bindparam("env"),
                started=bindparam("now"),
                lease_expires=bindparam("lease"),
            )
        )
        finish_values: dict[str, Any] = {
            "exit_code": bindparam("exit_code"),
            "error": bindparam("error"),
            "provenance": bindparam("provenance"),
            "ended": bindparam("now"),
            "duration": bindparam("now") - _X.c.started,
            "lease_expires": None,
        }
        finish = update(_X).where(owned).returning(*_X.c)
        self._finish_as = finish.values(status=bindparam("b_status"), **finish_values)
        self._finish_failed = finish.values(status=_retry_or_fail(), **finish_values)
        # dependents of :need whose needs are now all done: waiting → ready. The dependents are
        # looked up first so that SQLite plans the update by primary key, not by status.
        self._dependents = select(_N.c.key).where(_N.c.need_key == bindparam("need"))

        n2, u = _N.alias("n2"), _X.alias("u")
        not_done = (
            select(literal(1))
            .select_from(n2.outerjoin(u, u.c.key == n2.c.need_key))
            .where(n2.c.key == _X.c.key, or_(u.c.status.is_(None), u.c.status != Status.DONE.value))
        )
        waiting = and_(_X.c.key.in_(bindparam("keys", expanding=True)), _X.c.status == Status.WAITING.value)
        self._lock_dependents = select(_X.c.key).where(waiting).order_by(_X.c.key).with_for_update()
        self._promote = update(_X).where(waiting, ~exists(not_done)).values(status=Status.READY.value)
        self._renew_worker = (
            update(_W)
            .where(_W.c.id == bindparam("b_worker"))
            .values(last_seen=bindparam("now"), lease_expires=bindparam("lease"))
        )
        self._renew_leases = (
            update(_X)
            .where(_X.c.worker_id == bindparam("b_worker"), _X.c.status == RUNNING)
            .values(lease_expires=bindparam("lease"))
            .returning(_X.c.key)
        )

    # --- scheduling -------------------------------------------------------------------------
    def claim(
        self,
        worker_id: str,
        accept: Callable[[ExecRecord], bool],
        *,
        limit: int,
        experiment: str | Sequence[str] | None = None,
        lease_seconds: float = 30.0,
    ) -> list[ExecRecord]:
        if limit <= 0:
            return []
        # SQLite walks the claim index lazily (a row costs only when looked at); PostgreSQL locks
        # (SKIP LOCKED) every row of the window, so its window is narrower.
        window = min(max(limit * (4 if self.is_pg else 16), 8 if self.is_pg else 64), CLAIM_WINDOW_MAX)
        taken: list[ExecRecord] = []
        with self.tx() as conn:
            if experiment is None:
                result = conn.execute(self._pick_any, {"window": window})
            elif isinstance(experiment, str):
                result = conn.execute(self._pick_one, {"window": window, "exp": experiment})
            else:
                result = conn.execute(self._pick_some, {"window": window, "exps": list(experiment)})
            with result:
                for row in result.mappings():
                    record = exec_record(row)
                    if accept(record):
                        taken.append(record)
                        if len(taken) >= limit:
                            break
            if not taken:
                return []
            now = self.clock()
            params = {"keys": [r.key for r in taken], "worker": worker_id, "now": now}
            conn.execute(self._take, {**params, "lease": now + lease_seconds})
        return [
            dataclasses.replace(
                r,
                status=Status.RUNNING,
                worker_id=worker_id,
                attempts=r.attempts + 1,
                started=now,
                lease_expires=now + lease_seconds,
                **CLEARED_ON_CLAIM,
            )
            for r in taken
        ]

    def started(
        self,
        key: str,
        worker_id: str,
        *,
        pid: int,
        pgid: int | None,
        host: str,
        command_env: Mapping[str, str] | None = None,
        lease_seconds: float = 30.0,
    ) -> bool:
        now = self.clock()
        env = None if command_env is None else dumps(dict(command_env))
        params = {"b_key": key, "b_worker": worker_id, "pid": pid, "pgid": pgid, "host": host}
        with self.auto() as conn:
            result = conn.execute(self._started, {**params, "env": env, "now": now, "lease": now + lease_seconds})
            return result.rowcount == 1

    def finish(
        self,
        key: str,
        worker_id: str,
        *,
        status: Status,
        exit_code: int | None,
        error: str | None = None,
        provenance: Mapping[str, Any] | None = None,
        ended: float | None = None,
    ) -> ExecRecord | None:
        status = Status(status)
        if status not in FINISHED:
            raise ValueError(f"finish() needs a finished status ({', '.join(map(str, FINISHED))}), not {status}")
        params = {
            "b_key": key,
            "b_worker": worker_id,
            "exit_code": exit_code,
            "error": error,
            "provenance": None if provenance is None else dumps(dict(provenance)),
            "now": self.clock() if ended is None else ended,
        }
        with self.tx() as conn:
            if status == Status.FAILED:
                row = conn.execute(self._finish_failed, params).mappings().one_or_none()
            else:
                row = conn.execute(self._finish_as, {**params, "b_status": status.value}).mappings().one_or_none()
            if row is None:
                return None
            if status == Status.DONE:
                self._ready_dependents(conn, key)
            elif row["status"] == Status.READY.value:  # a retry
                self.notify(conn, f"ready:{row['experiment']}")
        return exec_record(row)

    def _ready_dependents(self, conn: Connection, key: str) -> None:
        # Dependents are looked up first so that both databases plan the update by primary key.
        # PostgreSQL: lock the waiting ones (in key order), so that of two upstreams finishing at
        # once the second sees the first one's commit in its (fresh) promote statement.
        keys = list(conn.execute(self._dependents, {"need": key}).scalars())
        if keys and self.is_pg:
            keys = list(conn.execute(self._lock_dependents, {"keys": keys}).scalars())
        if keys and conn.execute(self._promote, {"keys": keys}).rowcount:
            self.notify(conn, "ready:")

    def set_status(self, key: str, to: Status, *, expected: Status) -> bool:
        to, expected = Status(to), Status(expected)
        values: dict[str, Any] = {"status": to.value}
        if to != Status.RUNNING:
            values["lease_expires"] = None
        if to.finished and expected == Status.RUNNING:
            values["ended"] = self.clock()
        stmt = update(_X).where(_X.c.key == key, _X.c.status == expected.value).values(values)
        with self.tx() as conn:
            if conn.execute(stmt).rowcount != 1:
                return False
            if to == Status.DONE:
                self._ready_dependents(conn, key)
        return True

    def reap(self, now: float | None = None) -> list[str]:
        now = self.clock() if now is None else now
        expired = and_(_X.c.status == RUNNING, _X.c.lease_expires < now)
        return [r.key for r in self._take_back(expired, now, "its worker's lease expired (worker lost?)")]

    def reap_worker(self, worker_id: str) -> list[Reaped]:
        now = self.clock()
        held = and_(_X.c.worker_id == worker_id, _X.c.status == RUNNING)
        return self._take_back(held, now, f"its worker {worker_id} died", forget_worker=worker_id)

    def _take_back(self, where: Any, now: float, why: str, *, forget_worker: str | None = None) -> list[Reaped]:
        new_status = _requeue_or_give_up()
        given_up = f"{why}; its worker was lost {LOST_LIMIT} times while running it, not requeued again"
        stmt = (
            update(_X)
            .where(where)
            .values(
                status=new_status,
                lost=_X.c.lost + 1,
                lease_expires=None,
                error=case((new_status == Status.FAILED.value, given_up), else_=why),
                ended=case((new_status == Status.FAILED.value, now), else_=None),
            )
            .returning(_X.c.key, _X.c.status, _X.c.worker_id, _X.c.host, _X.c.pid, _X.c.pgid)
        )
        with self.tx() as conn:
            rows = conn.execute(stmt).all()
            if forget_worker is not None:
                conn.execute(delete(_W).where(_W.c.id == forget_worker))
            if any(status == Status.READY.value for _, status, *_ in rows):
                self.notify(conn, "ready:")
        return sorted(
            (Reaped(key, Status(status), worker, host, pid, pgid) for key, status, worker, host, pid, pgid in rows),
            key=lambda r: r.key,
        )

    def interrupt(self, worker_id: str) -> list[str]:
        now = self.clock()
        stmt = (
            update(_X)
            .where(_X.c.worker_id == worker_id, _X.c.status == RUNNING)
            .values(
                status=Status.INTERRUPTED.value,
                lease_expires=None,
                ended=now,
                duration=now - _X.c.started,
                error="interrupted",
            )
            .returning(_X.c.key)
        )
        with self.auto() as conn:
            return sorted(conn.execute(stmt).scalars())

    # --- workers ----------------------------------------------------------------------------
    def register_worker(self, info: WorkerInfo, *, lease_seconds: float = 30.0) -> None:
        now = self.clock()
        values = {
            "host": info.host,
            "pid": info.pid,
            "slots": info.slots,
            "started": info.started or now,
            "last_seen": now,
            "lease_expires": now + lease_seconds,
        }
        with self.tx() as conn:
            if conn.execute(update(_W).where(_W.c.id == info.id).values(values)).rowcount == 0:
                conn.execute(insert(_W).values(id=info.id, **values))

    def heartbeat(self, worker_id: str, *, lease_seconds: float = 30.0) -> list[str]:
        now = self.clock()
        params = {"b_worker": worker_id, "now": now, "lease": now + lease_seconds}
        with self.auto() as conn:  # two independent single-statement renewals
            conn.execute(self._renew_worker, params)
            return sorted(conn.execute(self._renew_leases, params).scalars())

    def unregister_worker(self, worker_id: str) -> None:
        with self.auto() as conn:
            conn.execute(delete(_W).where(_W.c.id == worker_id))
