"""Metric points and their per-(execution, name) summaries."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Collection, Sequence
from itertools import chain
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, select

from runyard.errors import LeaseLost
from runyard.model import Metric, Status
from runyard.store import schema
from runyard.store.base import MetricRow, MetricSummary
from runyard.store.engine import SqlCore
from runyard.store.submit import chunks

#: Rows per multi-row INSERT on SQLite (5 parameters each; SQLite before 3.32 allows 999 per statement).
_ROWS_PER_INSERT = 500 if sqlite3.sqlite_version_info >= (3, 32) else 199
_M = schema.metrics
_S = schema.metric_summary


def _value(value: float) -> float | None:
    """NaN becomes NULL (SQLite cannot store NaN; keep both backends alike)."""
    number = float(value)
    return None if math.isnan(number) else number


def summarize(key: str, rows: Sequence[MetricRow], now: float) -> list[dict[str, Any]]:
    """Per-name summary of one batch of rows: last value/step (batch order), min, max, count."""
    groups: dict[str, list[MetricRow]] = {}
    for row in rows:
        group = groups.get(row[1])
        if group is None:
            groups[row[1]] = [row]
        else:
            group.append(row)
    out = []
    for name, group in groups.items():
        values = [r[3] for r in group if r[3] is not None]
        out.append({"exec_key": key, "name": name, "last": group[-1][3], "last_step": group[-1][2],
                    "min": min(values) if values else None, "max": max(values) if values else None,
                    "count": len(group), "updated": now})
    return out


# built once: this read runs for every step execution that ends
_ANY_SUMMARY = select(_S.c.name).where(_S.c.exec_key == bindparam("key")).limit(1)
_DROP_POINTS = delete(_M).where(_M.c.exec_key == bindparam("key"))
_DROP_SUMMARIES = delete(_S).where(_S.c.exec_key == bindparam("key"))


_HELD = select(schema.executions.c.key).where(
    schema.executions.c.key == bindparam("key"),
    schema.executions.c.status == Status.RUNNING.value,
    schema.executions.c.worker_id == bindparam("owner"),
)


class MetricsMixin(SqlCore):
    _built_upsert: Any = None

    def _summary_upsert(self) -> Any:
        """The upsert of summaries, built once per store (building it cost more than running it)."""
        if self._built_upsert is None:
            self._built_upsert = self._build_summary_upsert()
        return self._built_upsert

    def _build_summary_upsert(self) -> Any:
        # only the dialect in use is imported: PostgreSQL's costs more than all the rest of a start-up
        stmt: Any
        if self.is_pg:
            from sqlalchemy.dialects import postgresql

            stmt = postgresql.insert(_S)
        else:
            from sqlalchemy.dialects import sqlite

            stmt = sqlite.insert(_S)
        stmt = stmt.values(
            {c.name: bindparam(c.name) for c in _S.columns}
        )
        new = stmt.excluded
        least, greatest = (func.least, func.greatest) if self.is_pg else (func.min, func.max)
        return stmt.on_conflict_do_update(
            index_elements=[_S.c.exec_key, _S.c.name],
            set_={
                "last": new.last,
                "last_step": new.last_step,
                "min": least(func.coalesce(_S.c.min, new.min), func.coalesce(new.min, _S.c.min)),
                "max": greatest(func.coalesce(_S.c.max, new.max), func.coalesce(new.max, _S.c.max)),
                "count": _S.c.count + new.count,
                "updated": new.updated,
            },
        )

    def log_metrics(self, key: str, points: Sequence[Metric]) -> None:
        self.log_metric_rows(key, [(key, p.name, p.step, _value(p.value), p.time) for p in points])

    def log_metric_rows(self, key: str, rows: Sequence[MetricRow], *, owner: str | None = None,
                        replace: bool = False) -> None:
        if not rows:
            if replace:
                self.clear_metrics(key, owner=owner)
            return
        now = self.clock()
        if any(r[4] is None for r in rows):
            rows = [r if r[4] is not None else (*r[:4], now) for r in rows]
        summaries = summarize(key, rows, now)
        with self.tx() as conn:
            self._check_owner(conn, key, owner)
            if replace:  # in the writing transaction: no read and no transaction of its own
                conn.execute(_DROP_POINTS, {"key": key})
                conn.execute(_DROP_SUMMARIES, {"key": key})
            self._insert_points(conn, rows)
            conn.execute(self._summary_upsert(), summaries)

    def clear_metrics(self, key: str, *, owner: str | None = None) -> bool:
        # a read first: most executions have nothing to clear, and a read takes no write lock
        with self.auto() as conn:
            found = conn.execute(_ANY_SUMMARY, {"key": key}).first()
        if found is None:
            return False
        with self.tx() as conn:
            self._check_owner(conn, key, owner)
            conn.execute(_DROP_POINTS, {"key": key})
            conn.execute(_DROP_SUMMARIES, {"key": key})
        return True

    def _check_owner(self, conn: Connection, key: str, owner: str | None) -> None:
        """Raise LeaseLost unless ``owner`` (if given) holds ``key`` running. In the writing transaction:
        SQLite's BEGIN IMMEDIATE keeps a takeover out until it ends; on PostgreSQL the row is locked
        FOR SHARE, so a reap or claim of it waits for this transaction."""
        if owner is None:
            return
        held = _HELD.with_for_update(read=True) if self.is_pg else _HELD
        if conn.execute(held, {"key": key, "owner": owner}).first() is None:
            raise LeaseLost(f"{key[:12]}: the worker {owner} no longer holds this execution; metrics not stored")

    def _insert_points(self, conn: Connection, rows: Sequence[MetricRow]) -> None:
        # Straight to the driver: SQLAlchemy's per-row parameter processing would halve the ingest
        # rate (DESIGN §9 asks for ≥ 300,000 points/s). On SQLite, INSERTs of many rows each beat
        # executemany by a third (one statement step per 500 rows instead of one per row).
        mark = "%s" if self.is_pg else "?"
        one = f"INSERT INTO metrics (exec_key, name, step, value, time) VALUES ({', '.join([mark] * 5)})"
        full = 0 if self.is_pg else len(rows) - len(rows) % _ROWS_PER_INSERT
        if full:
            many = one + f", ({', '.join([mark] * 5)})" * (_ROWS_PER_INSERT - 1)
            for start in range(0, full, _ROWS_PER_INSERT):
                conn.exec_driver_sql(many, tuple(chain.from_iterable(rows[start:start + _ROWS_PER_INSERT])))
        if full < len(rows):
            conn.exec_driver_sql(one, list(rows[full:]))

    def metric_summaries(self, keys: Collection[str]) -> dict[str, dict[str, MetricSummary]]:
        found: dict[str, dict[str, MetricSummary]] = {}
        stmt = select(_S).where(_S.c.exec_key.in_(bindparam("keys", expanding=True)))
        with self.tx(write=False) as conn:
            for part in chunks(list(dict.fromkeys(keys))):
                for row in conn.execute(stmt, {"keys": list(part)}).mappings():
                    found.setdefault(row["exec_key"], {})[row["name"]] = MetricSummary(
                        last=row["last"],
                        last_step=row["last_step"],
                        min=row["min"],
                        max=row["max"],
                        count=int(row["count"]),
                        updated=row["updated"],
                    )
        return found

    def metric_points(self, key: str, name: str | None = None) -> list[Metric]:
        m = _M
        stmt = select(m.c.name, m.c.value, m.c.step, m.c.time).where(m.c.exec_key == key)
        if name is not None:
            stmt = stmt.where(m.c.name == name)
        with self.auto() as conn:
            rows = conn.execute(stmt.order_by(m.c.name, m.c.time, m.c.step)).all()
        nan = float("nan")
        return [Metric(n, nan if v is None else v, step, t) for n, v, step, t in rows]

    def metric_envelope(self, key: str, name: str,
                        buckets: int) -> list[tuple[int, int, float | None, float | None, int]] | None:
        """Aggregated by the database: one scan of the (exec_key, name) index, ``buckets`` rows out."""
        from sqlalchemy import BigInteger, cast

        m = _M
        mine = (m.c.exec_key == key) & (m.c.name == name)
        with self.tx(write=False) as conn:
            low, high, stepped, total = conn.execute(
                select(func.min(m.c.step), func.max(m.c.step), func.count(m.c.step), func.count()).where(mine)).one()
            if total == 0:
                return []
            if stepped != total:
                return None
            span = int(high) - int(low) + 1
            bucket = ((cast(m.c.step, BigInteger) - int(low)) * max(1, int(buckets)) // span).label("bucket")
            rows = conn.execute(
                select(bucket, func.min(m.c.step), func.max(m.c.step), func.min(m.c.value), func.max(m.c.value),
                       func.count()).where(mine).group_by(bucket).order_by(bucket)).all()
        return [(int(r[1]), int(r[2]), _number(r[3]), _number(r[4]), int(r[5])) for r in rows]


def _number(value: Any) -> float | None:
    """A value as read back: None for NULL and NaN (PostgreSQL keeps NaN, and ranks it above numbers)."""
    return None if value is None or value != value else float(value)
