"""``Store.submit`` for the SQL store: a pure decision step (what happens to each key) and the
bulk reads and writes around it (a handful of statements whatever the plan size)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, select, text, update

from runyard.model import Plan, Status, StepExec
from runyard.store import schema
from runyard.store.base import SubmitResult
from runyard.store.engine import SqlCore, dumps
from runyard.store.unchanged import spec_json

T = TypeVar("T")
ANALYZE_AFTER = 500  # PostgreSQL: refresh planner statistics after adding this many executions
CHUNK = 2000  # keys per IN (...) list: far below SQLite's and PostgreSQL's parameter limits
_RESET_FROM = (Status.FAILED, Status.INTERRUPTED, Status.CANCELLED)
_X = schema.executions
_RUN_COLS = ("experiment", "name", "params", "folder", "stage", "origin")


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


#: The stored fields of an execution that may change without changing its key.
DEFINITION = ("command", "folder", "workdir", "gpus", "gpu_mem", "timeout", "retries", "kind", "code", "snapshot")


def definition_fields(ex: StepExec) -> dict[str, Any]:
    return {name: getattr(ex, name) for name in DEFINITION}


def definition(ex: StepExec) -> tuple[Any, ...]:
    return tuple(definition_fields(ex).values())


def _bound(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` as the parameters of a statement built by :func:`_binds` (``b_`` before each name)."""
    return {f"b_{name}": value for name, value in values.items()}


def _binds(names: Iterable[str]) -> dict[str, Any]:
    """Column name → bind parameter ``b_<name>``, for an executemany UPDATE."""
    return {name: bindparam(f"b_{name}") for name in names}


@dataclass(frozen=True)
class Existing:
    status: Status
    definition: tuple[Any, ...]


@dataclass
class Decision:
    """What submit does to each execution key of a plan."""

    added: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    forced: list[str] = field(default_factory=list)
    already_queued: list[str] = field(default_factory=list)
    status: dict[str, Status] = field(default_factory=dict)  # status of every plan key afterwards
    changed: list[str] = field(default_factory=list)  # existing ready/waiting rows to rewrite


def decide(
    plan: Plan,
    existing: Mapping[str, Existing],
    force: Collection[str],
    *,
    outside: Mapping[str, Status] | None = None,
    folder_exists: Callable[[str], bool] = os.path.isdir,
) -> Decision:
    """Pure: classify every execution of ``plan`` and compute the statuses after submission.

    ``existing`` holds the stored executions of the plan's keys, ``outside`` the statuses of
    needed keys that are not in the plan. See :class:`~runyard.store.base.Store` for the rules.
    """
    plan_keys = {ex.key for ex in plan.executions}
    unknown = [k for k in force if k not in plan_keys]
    if unknown:
        raise ValueError(f"forced keys not in the plan: {', '.join(sorted(k[:12] for k in unknown))}")
    forced = set(force)
    outside = outside or {}
    d = Decision()
    for ex in plan.executions:
        old = existing.get(ex.key)
        if old is None:
            d.added.append(ex.key)
            fresh = True
        elif old.status in (Status.RUNNING, Status.READY, Status.WAITING):
            d.already_queued.append(ex.key)
            fresh = False
        elif ex.key in forced:
            d.forced.append(ex.key)
            fresh = True
        elif old.status == Status.DONE and folder_exists(ex.folder):
            d.cached.append(ex.key)
            d.status[ex.key] = Status.DONE
            continue
        else:  # failed / interrupted / cancelled, or done with its folder gone
            d.requeued.append(ex.key)
            fresh = True
        if old is not None and old.status == Status.RUNNING:
            d.status[ex.key] = Status.RUNNING
            continue
        ok = all(d.status.get(n, outside.get(n)) == Status.DONE for n in ex.needs)
        d.status[ex.key] = Status.READY if ok else Status.WAITING
        if not fresh and old is not None and (old.status != d.status[ex.key] or old.definition != definition(ex)):
            d.changed.append(ex.key)
    return d


@dataclass(frozen=True)
class Queueing:
    """How submit queues the executions it adds or requeues: their statuses, priority and estimates."""

    status: Mapping[str, Status]
    priority: int
    est: Mapping[str, float]

    def fields(self, ex: StepExec) -> dict[str, Any]:
        """The columns a new or requeued execution gets: its definition and a fresh queue state."""
        return {
            **definition_fields(ex),
            "status": self.status[ex.key].value,
            "attempts": 0,
            "lost": 0,
            "priority": self.priority,
            "est_duration": self.est.get(ex.step),
        }


class SubmitMixin(SqlCore):
    def submit(self, plan: Plan, *, force: Collection[str] = (), priority: int = 0) -> SubmitResult:
        by_key = {ex.key: ex for ex in plan.executions}
        for run in plan.runs:
            names = [step for step, _ in run.steps]
            if len(set(names)) != len(names):
                raise ValueError(f"run {run.name!r} lists a step twice: {names}")
        keys = list(by_key)
        with self.tx() as conn:
            if self.is_pg:
                # Like SQLite's BEGIN IMMEDIATE: wait for claims/finishes in flight and hold new
                # ones (they lock rows this submit may rewrite); plain reads go on.
                conn.execute(text("LOCK TABLE executions IN EXCLUSIVE MODE"))
            now = self.clock()
            self._upsert_experiment(conn, plan, now)
            existing = self._existing(conn, keys)
            outside_keys = sorted({n for ex in plan.executions for n in ex.needs} - by_key.keys())
            outside = {k: s.status for k, s in self._existing(conn, outside_keys).items()}
            d = decide(plan, existing, force, outside=outside)
            queueing = Queueing(d.status, priority, self._estimates(conn, plan.experiment))
            self._insert_new(conn, [by_key[k] for k in d.added], queueing, now)
            self._reset(conn, [by_key[k] for k in d.requeued + d.forced], queueing)
            self._rewrite(conn, [by_key[k] for k in d.changed], d.status, existing)
            runs_added = self._upsert_runs(conn, plan, now)
            if any(s == Status.READY for s in d.status.values()):
                self.notify(conn, f"ready:{plan.experiment}")
            if self.is_pg and len(d.added) >= ANALYZE_AFTER:
                # fresh statistics, so the planner walks the claim index instead of sorting
                conn.execute(text("ANALYZE executions, exec_needs, runs, run_steps"))
        return SubmitResult(
            experiment=plan.experiment,
            added=tuple(d.added),
            cached=tuple(d.cached),
            requeued=tuple(d.requeued),
            forced=tuple(d.forced),
            already_queued=tuple(d.already_queued),
            runs_added=runs_added,
            runs_total=len(plan.runs),
        )

    # --- reads ----------------------------------------------------------------------------
    def _existing(self, conn: Connection, keys: Sequence[str]) -> dict[str, Existing]:
        cols = [_X.c.key, _X.c.status, *(_X.c[name] for name in DEFINITION)]
        stmt = select(*cols).where(_X.c.key.in_(bindparam("keys", expanding=True)))
        found: dict[str, Existing] = {}
        for part in chunks(keys):
            for row in conn.execute(stmt, {"keys": list(part)}):
                found[row[0]] = Existing(Status(row[1]), tuple(row[2:]))
        return found

    def _estimates(self, conn: Connection, experiment: str) -> dict[str, float]:
        stmt = (
            select(_X.c.step, func.avg(_X.c.duration))
            .where(_X.c.experiment == experiment, _X.c.status == Status.DONE.value)
            .where(_X.c.duration.is_not(None))
            .group_by(_X.c.step)
        )
        return {step: float(mean) for step, mean in conn.execute(stmt) if mean is not None}

    # --- writes ---------------------------------------------------------------------------
    def _upsert_experiment(self, conn: Connection, plan: Plan, now: float) -> None:
        e = schema.experiments
        # the spec in its own key order: the order of params, steps and sweeps names runs and orders plans
        values = {"spec": spec_json(plan.spec), "spec_path": plan.spec_path, "home": plan.home, "updated": now}
        done = conn.execute(update(e).where(e.c.name == plan.experiment).values(**values))
        if done.rowcount == 0:
            conn.execute(insert(e).values(name=plan.experiment, paused=False, created=now, **values))

    def _next_seq(self, conn: Connection, count: int) -> int:
        m = schema.meta
        current = conn.execute(select(m.c.value).where(m.c.key == "seq")).scalar_one_or_none()
        if current is None:
            top = conn.execute(select(func.max(_X.c.seq))).scalar_one_or_none()
            first = int(top or 0) + 1
            conn.execute(insert(m).values(key="seq", value=str(first + count - 1)))
        else:
            first = int(current) + 1
            conn.execute(update(m).where(m.c.key == "seq").values(value=str(first + count - 1)))
        return first

    def _insert_new(self, conn: Connection, new: list[StepExec], queueing: Queueing, now: float) -> None:
        if not new:
            return
        first = self._next_seq(conn, len(new))
        rows = [
            {
                **queueing.fields(ex),
                "key": ex.key,
                "experiment": ex.experiment,
                "step": ex.step,
                "needs": json.dumps(list(ex.needs)),
                "params": dumps(dict(ex.params)),
                "seq": first + i,
                "submitted": now,
            }
            for i, ex in enumerate(new)
        ]
        conn.execute(insert(_X), rows)
        needs = [{"key": ex.key, "need_key": n} for ex in new for n in dict.fromkeys(ex.needs)]
        if needs:
            conn.execute(insert(schema.exec_needs), needs)

    def _reset(self, conn: Connection, items: list[StepExec], queueing: Queueing) -> None:
        if not items:
            return
        stmt = (
            update(_X)
            .where(_X.c.key == bindparam("b_key"))
            .values(
                lease_expires=None,
                exit_code=None,
                error=None,
                ended=None,
                **_binds(queueing.fields(items[0])),
            )
        )
        conn.execute(stmt, [{"b_key": ex.key, **_bound(queueing.fields(ex))} for ex in items])

    def _rewrite(
        self, conn: Connection, items: list[StepExec], status: Mapping[str, Status], old: Mapping[str, Existing]
    ) -> None:
        """Ready/waiting executions whose readiness or definition changed (compare-and-set)."""
        if not items:
            return
        stmt = (
            update(_X)
            .where(and_(_X.c.key == bindparam("b_key"), _X.c.status == bindparam("b_old")))
            .values(_binds(("status", *DEFINITION)))
        )
        rows = [
            {
                "b_key": ex.key,
                "b_old": old[ex.key].status.value,
                **_bound({"status": status[ex.key].value, **definition_fields(ex)}),
            }
            for ex in items
        ]
        conn.execute(stmt, rows)

    def _upsert_runs(self, conn: Connection, plan: Plan, now: float) -> int:
        r, rs = schema.runs, schema.run_steps
        ids = [run.id for run in plan.runs]
        stored: dict[str, tuple[Any, ...]] = {}
        links: dict[str, dict[str, tuple[int, str]]] = {}
        for part in chunks(ids):
            sel = select(r.c.id, *(r.c[c] for c in _RUN_COLS)).where(r.c.id.in_(part))
            stored.update((row[0], tuple(row[1:])) for row in conn.execute(sel))
            sel_links = select(rs.c.run_id, rs.c.step, rs.c.pos, rs.c.exec_key).where(rs.c.run_id.in_(part))
            for run_id, step, pos, key in conn.execute(sel_links):
                links.setdefault(run_id, {})[step] = (pos, key)
        new_runs, changed_runs, new_links, changed_links, gone = [], [], [], [], []
        for run in plan.runs:
            values = (run.experiment, run.name, dumps(dict(run.params)), run.folder, run.stage, run.origin)
            row = dict(zip(_RUN_COLS, values, strict=True))
            if run.id not in stored:
                new_runs.append({"id": run.id, "created": now, **row})
            elif stored[run.id] != values:
                changed_runs.append({"b_id": run.id, **_bound(row)})
            have = links.get(run.id, {})
            for pos, (step, key) in enumerate(run.steps):
                link = {"run_id": run.id, "step": step, "pos": pos, "exec_key": key}
                if step not in have:
                    new_links.append(link)
                elif have[step] != (pos, key):
                    changed_links.append(_bound(link))
            wanted = {step for step, _ in run.steps}
            gone += [{"b_run_id": run.id, "b_step": s} for s in have if s not in wanted]
        if new_runs:
            conn.execute(insert(r), new_runs)
        if changed_runs:
            stmt = update(r).where(r.c.id == bindparam("b_id")).values(_binds(_RUN_COLS))
            conn.execute(stmt, changed_runs)
        if new_links:
            conn.execute(insert(rs), new_links)
        link_where = and_(rs.c.run_id == bindparam("b_run_id"), rs.c.step == bindparam("b_step"))
        if changed_links:
            moved: dict[str, Any] = {"pos": bindparam("b_pos"), "exec_key": bindparam("b_exec_key")}
            conn.execute(update(rs).where(link_where).values(moved), changed_links)
        if gone:
            conn.execute(delete(rs).where(link_where), gone)
        return len(new_runs)
