"""Read-only queries of the SQL store (and ``pause``, the one experiment-level switch)."""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, func, select, update

from runyard.errors import RunNotFound
from runyard.model import Status
from runyard.store import schema
from runyard.store.base import ExecRecord, ExperimentRecord, RunRecord, WorkerRecord, pick_one
from runyard.store.engine import SqlCore, exec_record
from runyard.store.submit import chunks

_X = schema.executions
_R = schema.runs
_RS = schema.run_steps
_HEX = re.compile(r"[0-9a-f]+")
_MAX_SUGGEST = 20_000  # names considered for "did you mean"


def prefix_filter(column: Any, prefix: str) -> Any:
    """``column`` starts with the hex ``prefix``, as an index range (hex keys sort below 'g')."""
    return and_(column >= prefix, column < prefix + "g", column.like(prefix + "%"))


class QueryMixin(SqlCore):
    def execution(self, key_or_prefix: str) -> ExecRecord:
        wanted = key_or_prefix.strip().lower()
        if not _HEX.fullmatch(wanted):
            raise RunNotFound(f"no execution matches {key_or_prefix!r}: execution keys are hexadecimal")
        with self.auto() as conn:
            rows = conn.execute(select(_X).where(prefix_filter(_X.c.key, wanted)).limit(9)).mappings().all()
        if len(rows) == 1:
            return exec_record(rows[0])
        pick_one("execution", key_or_prefix, [row["key"] for row in rows], ())
        raise AssertionError("unreachable")  # pragma: no cover - pick_one raised

    def executions(
        self,
        experiment: str | None = None,
        *,
        statuses: Collection[Status] | None = None,
        keys: Collection[str] | None = None,
    ) -> list[ExecRecord]:
        stmt = select(_X).order_by(_X.c.seq)
        if experiment is not None:
            stmt = stmt.where(_X.c.experiment == experiment)
        if statuses is not None:
            stmt = stmt.where(_X.c.status.in_([Status(s).value for s in statuses]))
        if keys is None:
            with self.auto() as conn:
                return [exec_record(row) for row in conn.execute(stmt).mappings()]
        with self.tx(write=False) as conn:
            found: list[ExecRecord] = []
            for part in chunks(list(dict.fromkeys(keys))):
                found += [exec_record(row) for row in conn.execute(stmt.where(_X.c.key.in_(part))).mappings()]
        found.sort(key=lambda rec: rec.seq)
        return found

    def runs(self, experiment: str | None = None) -> list[RunRecord]:
        with self.tx(write=False) as conn:
            stmt = select(_R).order_by(_R.c.experiment, _R.c.created, _R.c.name, _R.c.id)
            if experiment is not None:
                stmt = stmt.where(_R.c.experiment == experiment)
            return self._run_records(conn, stmt)

    def run(self, id_prefix_or_name: str, experiment: str | None = None) -> RunRecord:
        wanted = id_prefix_or_name.strip()
        scope = [] if experiment is None else [_R.c.experiment == experiment]
        with self.tx(write=False) as conn:
            by_name = conn.execute(select(_R.c.id).where(_R.c.name == wanted, *scope).limit(9)).scalars().all()
            by_id: list[str] = []
            if _HEX.fullmatch(wanted.lower()):
                sel = select(_R.c.id).where(prefix_filter(_R.c.id, wanted.lower()), *scope).limit(9)
                by_id = list(conn.execute(sel).scalars())
            if wanted.lower() in by_id:
                matches = [wanted.lower()]
            elif by_name:
                matches = list(by_name)
            else:
                matches = by_id
            known: list[str] = []
            if not matches:
                sel = select(_R.c.name).where(*scope).distinct().limit(_MAX_SUGGEST)
                known = list(conn.execute(sel).scalars())
            run_id = pick_one("run", wanted, matches, known, scope=experiment or "")
            found = self._run_records(conn, select(_R).where(_R.c.id == run_id))
        return found[0]

    def _run_records(self, conn: Connection, runs_stmt: Select[Any]) -> list[RunRecord]:
        rows = conn.execute(runs_stmt).mappings().all()
        if not rows:
            return []
        links = (
            select(_RS.c.run_id, _RS.c.step, _RS.c.exec_key, _X.c.status)
            .select_from(_RS.outerjoin(_X, _X.c.key == _RS.c.exec_key))
            .order_by(_RS.c.run_id, _RS.c.pos)
        )
        steps: dict[str, list[tuple[str, str, str | None]]] = {}
        if len(rows) <= 500:
            part_stmt = links.where(_RS.c.run_id.in_(bindparam("ids", expanding=True)))
            result = conn.execute(part_stmt, {"ids": [row["id"] for row in rows]})
        else:  # many runs: one pass over the links (of the same runs), no giant IN list
            sub = runs_stmt.with_only_columns(_R.c.id).order_by(None).scalar_subquery()
            result = conn.execute(links.where(_RS.c.run_id.in_(sub)))
        for run_id, step, key, status in result:
            steps.setdefault(run_id, []).append((step, key, status))
        records = []
        for row in rows:
            links_of = steps.get(row["id"], [])
            records.append(
                RunRecord(
                    id=row["id"],
                    experiment=row["experiment"],
                    name=row["name"],
                    params=json.loads(row["params"]),
                    folder=row["folder"],
                    steps=tuple((step, key) for step, key, _ in links_of),
                    created=row["created"],
                    stage=row["stage"],
                    origin=row["origin"],
                    tags=tuple(json.loads(row["tags"] or "[]")),
                    note=row["note"] or "",
                    statuses=tuple(Status(s) if s else Status.WAITING for _, _, s in links_of),
                )
            )
        return records

    def experiments(self) -> list[str]:
        with self.auto() as conn:
            e = schema.experiments
            return list(conn.execute(select(e.c.name).order_by(e.c.name)).scalars())

    def experiment(self, name: str) -> ExperimentRecord:
        e = schema.experiments
        with self.auto() as conn:
            row = conn.execute(select(e).where(e.c.name == name)).mappings().one_or_none()
            if row is None:
                pick_one("experiment", name, [], conn.execute(select(e.c.name)).scalars().all())
                raise AssertionError("unreachable")  # pragma: no cover
        return ExperimentRecord(
            name=row["name"],
            spec=json.loads(row["spec"]),
            spec_path=row["spec_path"],
            home=row["home"],
            paused=bool(row["paused"]),
            created=row["created"],
            updated=row["updated"],
        )

    def counts(self, experiment: str | None = None) -> dict[Status, int]:
        stmt = select(_X.c.status, func.count()).group_by(_X.c.status)
        if experiment is not None:
            stmt = stmt.where(_X.c.experiment == experiment)
        found = dict.fromkeys(Status, 0)
        with self.auto() as conn:
            for status, count in conn.execute(stmt):
                found[Status(status)] = int(count)
        return found

    def pause(self, experiment: str, paused: bool = True) -> None:
        e = schema.experiments
        with self.auto() as conn:
            done = conn.execute(update(e).where(e.c.name == experiment).values(paused=paused))
            if done.rowcount == 0:
                pick_one("experiment", experiment, [], conn.execute(select(e.c.name)).scalars().all())
            if not paused:
                self.notify(conn, f"ready:{experiment}")

    def workers(self) -> list[WorkerRecord]:
        w = schema.workers
        with self.tx(write=False) as conn:
            rows = conn.execute(select(w).order_by(w.c.started, w.c.id)).mappings().all()
            held: dict[str, list[str]] = {}
            sel = select(_X.c.worker_id, _X.c.key).where(_X.c.status == Status.RUNNING.value).order_by(_X.c.seq)
            for worker_id, key in conn.execute(sel):
                held.setdefault(worker_id, []).append(key)
        return [
            WorkerRecord(
                id=row["id"],
                host=row["host"],
                pid=row["pid"],
                slots=row["slots"],
                started=row["started"],
                last_seen=row["last_seen"],
                lease_expires=row["lease_expires"],
                running=tuple(held.get(row["id"], ())),
            )
            for row in rows
        ]
