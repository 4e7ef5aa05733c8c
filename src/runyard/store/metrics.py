"""Metric points and their per-(execution, name) summaries."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from runyard.model import Metric
from runyard.store import schema
from runyard.store.base import MetricSummary
from runyard.store.engine import SqlCore
from runyard.store.submit import chunks

_M = schema.metrics
_S = schema.metric_summary


def _value(value: float) -> float | None:
    """NaN becomes NULL (SQLite cannot store NaN; keep both backends alike)."""
    number = float(value)
    return None if math.isnan(number) else number


def summarize(key: str, points: Sequence[Metric], now: float) -> list[dict[str, Any]]:
    """Per-name summary of one batch: last value/step (batch order), min, max, count."""
    acc: dict[str, dict[str, Any]] = {}
    for point in points:
        value = _value(point.value)
        entry = acc.get(point.name)
        if entry is None:
            entry = acc[point.name] = {"exec_key": key, "name": point.name, "min": None, "max": None, "count": 0}
        entry["last"] = value
        entry["last_step"] = point.step
        entry["count"] += 1
        entry["updated"] = now
        if value is not None:
            entry["min"] = value if entry["min"] is None else min(entry["min"], value)
            entry["max"] = value if entry["max"] is None else max(entry["max"], value)
    return list(acc.values())


class MetricsMixin(SqlCore):
    def _summary_upsert(self) -> Any:
        stmt = (postgresql.insert(_S) if self.is_pg else sqlite.insert(_S)).values(
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
        if not points:
            return
        now = self.clock()
        rows = [(key, p.name, p.step, _value(p.value), now if p.time is None else p.time) for p in points]
        summaries = summarize(key, points, now)
        with self.tx() as conn:
            self._insert_points(conn, rows)
            conn.execute(self._summary_upsert(), summaries)

    def clear_metrics(self, key: str) -> bool:
        # a read first: most executions have nothing to clear, and a read takes no write lock
        with self.auto() as conn:
            found = conn.execute(select(_S.c.name).where(_S.c.exec_key == key).limit(1)).first()
        if found is None:
            return False
        with self.tx() as conn:
            conn.execute(delete(_M).where(_M.c.exec_key == key))
            conn.execute(delete(_S).where(_S.c.exec_key == key))
        return True

    def _insert_points(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        # Straight to the driver's executemany: SQLAlchemy's per-row parameter processing would
        # halve the ingest rate (DESIGN §9 asks for ≥ 300,000 points/s).
        mark = "%s" if self.is_pg else "?"
        sql = f"INSERT INTO metrics (exec_key, name, step, value, time) VALUES ({', '.join([mark] * 5)})"
        conn.exec_driver_sql(sql, rows)

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
