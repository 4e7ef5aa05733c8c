"""Working with past runs in the SQL store: tags and notes, removing runs and executions, and writing
back what a home's folders recorded (``runyard reindex``). Each method is one transaction."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, delete, exists, insert, or_, select, update

from runyard.errors import RunNotFound, StoreError
from runyard.model import Status
from runyard.store import schema
from runyard.store.engine import SqlCore, dumps
from runyard.store.records import Removed, Restored
from runyard.store.submit import chunks

_R = schema.runs
_RS = schema.run_steps
_X = schema.executions
_N = schema.exec_needs
#: Statuses of an execution that a worker may still start or is running: never deleted.
IN_USE = (Status.RUNNING.value, Status.READY.value, Status.WAITING.value)


def clean_tags(tags: Iterable[str]) -> list[str]:
    """Tags as stored: stripped, non-empty, without commas or spaces inside (they separate tags)."""
    found = []
    for tag in tags:
        text = str(tag).strip()
        if not text or any(c.isspace() or c == "," for c in text):
            raise StoreError(f"bad tag {tag!r}: a tag is one word without spaces or commas (e.g. baseline)")
        found.append(text)
    return found


class PastMixin(SqlCore):
    # --- tags and notes -----------------------------------------------------------------------
    def tag(self, run_id: str, tags: Collection[str], *, remove: bool = False) -> tuple[str, ...]:
        """Add ``tags`` to a run (``remove``: take them off); returns its tags, sorted."""
        wanted = set(clean_tags(tags))
        with self.tx() as conn:
            current = self._locked_run(conn, run_id, _R.c.tags)
            have = set(json.loads(current or "[]"))
            now = sorted(have - wanted if remove else have | wanted)
            conn.execute(update(_R).where(_R.c.id == run_id).values(tags=json.dumps(now)))
        return tuple(now)

    def set_note(self, run_id: str, note: str) -> None:
        """Replace a run's note ("" removes it)."""
        with self.tx() as conn:
            self._locked_run(conn, run_id, _R.c.note)
            conn.execute(update(_R).where(_R.c.id == run_id).values(note=note))

    def _locked_run(self, conn: Connection, run_id: str, column: Any) -> Any:
        stmt = select(column).where(_R.c.id == run_id)
        row = conn.execute(stmt.with_for_update() if self.is_pg else stmt).first()
        if row is None:
            raise RunNotFound(f"no run with id {run_id!r}")
        return row[0]

    def run_labels(self, experiment: str) -> dict[str, tuple[tuple[str, ...], str]]:
        """Run id → (tags, note) for the runs of ``experiment`` that have either."""
        stmt = select(_R.c.id, _R.c.tags, _R.c.note).where(
            _R.c.experiment == experiment, or_(_R.c.tags != "[]", _R.c.note != ""))
        with self.tx(write=False) as conn:
            return {row[0]: (tuple(json.loads(row[1] or "[]")), row[2] or "") for row in conn.execute(stmt)}

    # --- removing ----------------------------------------------------------------------------
    def remove_runs(self, run_ids: Collection[str]) -> Removed:
        """Delete runs and their links, and every execution of theirs that no other run links to and
        that is not in use. Raises StoreError, deleting nothing, when an execution of one of the runs is
        in use (running, or ready or waiting to run: cancel it first)."""
        ids = list(dict.fromkeys(run_ids))
        with self.tx() as conn:
            links = self._links(conn, ids)
            keys = list(dict.fromkeys(key for _, key in links))
            busy = self._statuses(conn, keys, IN_USE)
            if busy:
                raise StoreError(f"{len(busy)} execution(s) of these runs are {', '.join(sorted(set(busy.values())))}: "
                                 "cancel them first (runyard cancel), then remove the runs")
            for part in chunks(ids):
                conn.execute(delete(_RS).where(_RS.c.run_id.in_(part)))
                conn.execute(delete(_R).where(_R.c.id.in_(part)))
            gone = self._delete_unlinked(conn, keys)
        return Removed(tuple(ids), gone)

    def remove_executions(self, keys: Collection[str]) -> Removed:
        """Delete executions that no run links to and that are not in use; returns those deleted."""
        with self.tx() as conn:
            return Removed((), self._delete_unlinked(conn, list(dict.fromkeys(keys))))

    def _links(self, conn: Connection, ids: Sequence[str]) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        stmt = select(_RS.c.run_id, _RS.c.exec_key)
        for part in chunks(ids):
            found += [(r, k) for r, k in conn.execute(stmt.where(_RS.c.run_id.in_(part)))]
        return found

    def _statuses(self, conn: Connection, keys: Sequence[str], among: Collection[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for part in chunks(keys):
            stmt = select(_X.c.key, _X.c.status).where(_X.c.key.in_(part), _X.c.status.in_(list(among)))
            found.update((k, s) for k, s in conn.execute(stmt.with_for_update() if self.is_pg else stmt))
        return found

    def _delete_unlinked(self, conn: Connection, keys: Sequence[str]) -> tuple[tuple[str, str], ...]:
        """Delete those of ``keys`` no run links to and not in use, with their needs edges and metrics."""
        linked = exists().where(_RS.c.exec_key == _X.c.key)
        gone: list[tuple[str, str]] = []
        for part in chunks(keys):
            stmt = select(_X.c.key, _X.c.folder).where(_X.c.key.in_(part), ~linked, _X.c.status.not_in(list(IN_USE)))
            rows = [(k, f) for k, f in conn.execute(stmt.with_for_update() if self.is_pg else stmt)]
            doomed = [k for k, _ in rows]
            if not doomed:
                continue
            for table, column in ((schema.metrics, schema.metrics.c.exec_key),
                                  (schema.metric_summary, schema.metric_summary.c.exec_key),
                                  (_N, _N.c.key), (_X, _X.c.key)):
                conn.execute(delete(table).where(column.in_(doomed)))
            gone += rows
        return tuple(gone)

    # --- restoring -----------------------------------------------------------------------------
    def restore(self, restored: Restored) -> None:
        """Write back an experiment, its runs and executions (``runyard reindex``): rows already in the
        store (same experiment name, run id or execution key) are replaced. Metrics are not part of it:
        they are logged afterwards (``log_metric_rows``)."""
        e = restored.experiment
        with self.tx() as conn:
            conn.execute(delete(schema.experiments).where(schema.experiments.c.name == e.name))
            conn.execute(insert(schema.experiments).values(
                name=e.name, spec=dumps(dict(e.spec)), spec_path=e.spec_path, home=e.home, paused=e.paused,
                created=e.created, updated=e.updated))
            keys = [x.key for x in restored.executions]
            ids = [r.id for r in restored.runs]
            for part in chunks(keys):
                for table, column in ((_N, _N.c.key), (_X, _X.c.key), (schema.metrics, schema.metrics.c.exec_key),
                                      (schema.metric_summary, schema.metric_summary.c.exec_key)):
                    conn.execute(delete(table).where(column.in_(part)))
            for part in chunks(ids):
                conn.execute(delete(_RS).where(_RS.c.run_id.in_(part)))
                conn.execute(delete(_R).where(_R.c.id.in_(part)))
            self._insert_restored(conn, restored)

    def _insert_restored(self, conn: Connection, restored: Restored) -> None:
        seq = int(conn.execute(select(_X.c.seq).order_by(_X.c.seq.desc()).limit(1)).scalar() or 0)
        rows: list[dict[str, Any]] = []
        needs: list[dict[str, Any]] = []
        for offset, x in enumerate(restored.executions, start=1):
            rows.append({
                "key": x.key, "experiment": x.experiment, "step": x.step, "command": x.command,
                "needs": json.dumps(list(x.needs)), "folder": x.folder, "workdir": x.workdir,
                "params": dumps(dict(x.params)), "gpus": x.gpus, "timeout": x.timeout, "retries": x.retries,
                "status": x.status.value, "attempts": x.attempts, "lost": x.lost, "priority": x.priority,
                "seq": seq + offset, "worker_id": x.worker_id, "host": x.host, "pid": x.pid, "pgid": x.pgid,
                "exit_code": x.exit_code, "submitted": x.submitted, "started": x.started, "ended": x.ended,
                "duration": x.duration, "lease_expires": None, "est_duration": x.est_duration, "error": x.error,
                "provenance": None if x.provenance is None else json.dumps(x.provenance, default=str),
                "command_env": None if x.command_env is None else json.dumps(dict(x.command_env)),
                "kind": x.kind, "code": x.code, "snapshot": x.snapshot,
            })
            needs += [{"key": x.key, "need_key": n} for n in dict.fromkeys(x.needs)]
        for part in chunks(rows):
            conn.execute(insert(_X), list(part))
        for part in chunks(needs):
            conn.execute(insert(_N), list(part))
        runs: list[dict[str, Any]] = []
        links: list[dict[str, Any]] = []
        for run in restored.runs:
            runs.append({"id": run.id, "experiment": run.experiment, "name": run.name,
                         "params": dumps(dict(run.params)), "folder": run.folder, "created": run.created,
                         "stage": run.stage, "origin": run.origin, "tags": json.dumps(sorted(run.tags)),
                         "note": run.note})
            links += [{"run_id": run.id, "step": step, "pos": pos, "exec_key": key}
                      for pos, (step, key) in enumerate(run.steps)]
        for part in chunks(runs):
            conn.execute(insert(_R), list(part))
        for part in chunks(links):
            conn.execute(insert(_RS), list(part))

