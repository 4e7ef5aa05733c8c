"""Bulk reads for analysis (``Store.results`` and ``Store.metric_series``) in the SQL store.

Portable path: two joined queries (runs with their executions aggregated; run steps with their
metric summaries), for PostgreSQL, whose hash joins make that fast. SQLite joins by index lookups,
which cost about a microsecond per row on 64-character keys, so on SQLite each table is instead read
in one scan (``store/scan.py``) and joined with numpy; that path needs 64-character keys and falls
back to the portable one otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, func, literal, select

from runyard.store import schema
from runyard.store.base import SUMMARY_STATS, ResultTables, pick_one
from runyard.store.engine import SqlCore
from runyard.store.records import MISSING_RANK, RANK_STATUS, STATUS_RANK
from runyard.store.submit import chunks

_R = schema.runs
_RS = schema.run_steps
_X = schema.executions
_S = schema.metric_summary
_M = schema.metrics
_E = schema.experiments

def rank_case(column: Any) -> Any:
    return case(*((column == status, rank) for status, rank in STATUS_RANK.items()), else_=MISSING_RANK)


def check_stats(stats: Collection[str]) -> list[str]:
    unknown = [s for s in stats if s not in SUMMARY_STATS]
    if unknown:
        raise ValueError(f"unknown summary statistics {unknown}; valid: {', '.join(SUMMARY_STATS)}")
    return [s for s in SUMMARY_STATS if s in stats]


def loads_many(texts: Sequence[str]) -> list[Any]:
    """Parse many JSON texts with one call of the decoder."""
    return json.loads("[" + ",".join(texts) + "]") if texts else []


class ResultsMixin(SqlCore):
    def results(self, experiment: str, *, stats: Collection[str] = ("last",)) -> ResultTables:
        wanted = check_stats(stats)
        self._check_experiment(experiment)
        if not self.is_pg:
            from runyard.store.scan import sqlite_results

            found = sqlite_results(self, experiment, wanted)
            if found is not None:
                return found
        with self.tx(write=False) as conn:
            runs = self._run_columns(conn, experiment)
            positions = {run_id: i for i, run_id in enumerate(runs["id"])}
            return ResultTables(runs=runs, summaries=self._summary_columns(conn, experiment, wanted, positions))

    def _check_experiment(self, experiment: str) -> None:
        with self.auto() as conn:
            if conn.execute(select(_E.c.name).where(_E.c.name == experiment)).first() is None:
                pick_one("experiment", experiment, [], conn.execute(select(_E.c.name)).scalars().all())

    def _run_columns(self, conn: Connection, experiment: str) -> dict[str, Sequence[Any]]:
        stmt = (
            select(_R.c.id, _R.c.name, _R.c.params, _R.c.created, _R.c.stage, _R.c.origin,
                   func.max(rank_case(_X.c.status)), func.min(_X.c.started), func.max(_X.c.ended),
                   func.sum(_X.c.ended - _X.c.started))
            .select_from(_R.outerjoin(_RS, _RS.c.run_id == _R.c.id).outerjoin(_X, _X.c.key == _RS.c.exec_key))
            .where(_R.c.experiment == experiment)
            .group_by(_R.c.id, _R.c.name, _R.c.params, _R.c.created, _R.c.stage, _R.c.origin)
        )
        rows = conn.execute(stmt).all()
        cols: list[list[Any]] = [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(10)]
        ids, names, params, created, stages, origins, ranks, started, ended, durations = cols
        # a run without any run_steps row gets one NULL-status row from the outer join: rank 2 (waiting)
        return {"id": ids, "name": names, "params": loads_many(params), "created": created,
                "stage": [s or "sweep" for s in stages], "origin": origins,
                "status": [RANK_STATUS[r or 0] for r in ranks], "started": started, "ended": ended,
                "duration": durations}

    def _summary_columns(self, conn: Connection, experiment: str, stats: list[str],
                         positions: dict[str, int]) -> dict[str, Sequence[Any]]:
        stmt = (
            select(_RS.c.run_id, _RS.c.step, _S.c.name, *(_S.c[s] for s in stats))
            .select_from(_R.join(_RS, _RS.c.run_id == _R.c.id).join(_S, _S.c.exec_key == _RS.c.exec_key))
            .where(_R.c.experiment == experiment)
        )
        rows = conn.execute(stmt).all()
        width = 3 + len(stats)
        cols: list[list[Any]] = [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]
        found: dict[str, Sequence[Any]] = {"run": [positions[r] for r in cols[0]], "step": cols[1], "name": cols[2]}
        found.update(zip(stats, cols[3:], strict=True))
        return found

    def metric_series(
        self, experiment: str, name: str, *, run_ids: Collection[str] | None = None
    ) -> dict[str, Sequence[Any]]:
        self._check_experiment(experiment)
        stmt = (
            select(_RS.c.run_id, _RS.c.step, _M.c.step, _M.c.value, _M.c.time)
            .select_from(_R.join(_RS, _RS.c.run_id == _R.c.id)
                         .join(_M, and_(_M.c.exec_key == _RS.c.exec_key, _M.c.name == literal(name))))
            .where(_R.c.experiment == experiment)
        )
        rows: list[Any] = []
        with self.tx(write=False) as conn:
            if run_ids is None:
                rows = list(conn.execute(stmt))
            else:
                part_stmt = stmt.where(_R.c.id.in_(bindparam("ids", expanding=True)))
                for part in chunks(list(dict.fromkeys(run_ids))):
                    rows += conn.execute(part_stmt, {"ids": list(part)}).all()
        nan = float("nan")
        rows.sort(key=lambda r: (r[0], r[1], r[4], -1 if r[2] is None else r[2]))
        return {
            "run_id": [r[0] for r in rows],
            "step_name": [r[1] for r in rows],
            "step": [r[2] for r in rows],
            "value": [nan if r[3] is None else r[3] for r in rows],
            "time": [r[4] for r in rows],
        }

