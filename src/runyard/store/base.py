"""The store interface: the abstract :class:`Store`, whose docstring is the contract (records: ``records.py``).

This module imports nothing heavy (no SQLAlchemy), so other layers may import it for type hints.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

from runyard.errors import LeaseLost, RunNotFound, suggest
from runyard.model import Metric, Plan, Status, WorkerInfo
from runyard.store.records import (  # re-exported: the store's records are part of its interface
    RUN_STATUS_ORDER,
    SUMMARY_STATS,
    Cancelled,
    ExecRecord,
    ExperimentRecord,
    Listener,
    MetricRow,
    MetricSummary,
    Reaped,
    Removed,
    Restored,
    ResultTables,
    RunRecord,
    SubmitResult,
    WorkerRecord,
    derive_run_status,
)

Clock = Callable[[], float]

__all__ = [
    "RUN_STATUS_ORDER",
    "SUMMARY_STATS",
    "Cancelled",
    "Clock",
    "ExecRecord",
    "ExperimentRecord",
    "Listener",
    "MetricRow",
    "MetricSummary",
    "Reaped",
    "Removed",
    "Restored",
    "ResultTables",
    "RunRecord",
    "Store",
    "SubmitResult",
    "WorkerRecord",
    "derive_run_status",
    "pick_one",
]


#: A step whose worker is lost this many times is failed, not requeued once more (a step that kills
#: its worker, or its machine, every time it runs must not do so forever).
LOST_LIMIT = 5


class Store(abc.ABC):
    """The database of record. Every method is atomic (heartbeat's two renewals are independent);
    every status change is a compare-and-set, so any number of workers (threads, processes,
    machines) may share a store.

    Life cycle of an execution (``model.Status``)::

        submit ─▶ waiting ─(all needs done)─▶ ready ─claim─▶ running ─finish─▶ done | failed | ...
                                                ▲                │
                                                ├── retry (failures ≤ retries)
                                                └── lease expired / worker died (lost < LOST_LIMIT)

    Contract:

    - ``submit(plan, force=, priority=)`` stores the experiment, its runs (upsert by id), the
      executions, the run↔execution links and the need edges, idempotently by key, in ONE
      transaction. New executions are ``ready`` when every key they need is ``done``, else
      ``waiting``. ``done`` stays done (cached) unless forced or its folder is gone (then requeued).
      ``failed``/``interrupted``/``cancelled`` are requeued with ``attempts`` and ``lost`` reset to 0.
      ``running``/``ready``/``waiting`` are left alone (forced running ones keep running). Then every
      ready/waiting execution of the plan gets ready-vs-waiting recomputed from its needs. Keys in
      ``force`` must belong to the plan (ValueError otherwise); the caller passes the full
      downstream closure. New, requeued and forced executions get ``priority`` and
      ``est_duration`` = mean duration of past ``done`` executions of the same experiment and
      step; ready/waiting ones also take the plan's command, folder, resources, timeout and
      retries (they may change without changing the key).
    - ``claim(worker_id, accept, limit=, experiment=, lease_seconds=)`` atomically picks ``ready``
      executions of unpaused experiments ordered by priority DESC, est_duration DESC (unknown
      last), seq ASC; ``accept(record)`` is called in that order for a bounded number of
      candidates and returns True to take one (the caller reserves a slot) or False to skip it
      (it stays ready). ``accept`` runs inside the claim's transaction: it must be quick and must
      not use the store. If ``claim`` raises, nothing was taken: release every reserved slot.
      Taken ones become ``running``: owned by ``worker_id``, ``attempts + 1`` (attempts counts
      launches), ``started = now``, ``lease_expires = now + lease_seconds``; pid, pgid, host,
      exit code, end and error of a previous attempt are cleared. No two claims ever return the
      same key while it is running.
    - ``started(key, worker_id, pid=, pgid=, host=, command_env=)`` records the launched process,
      sets ``started`` to the launch time and renews the lease, only if the execution is still
      running and owned by ``worker_id``; returns whether it did.
    - ``finish(key, worker_id, status=, exit_code=, error=, provenance=, ended=)`` is a compare-and-set:
      it does nothing and returns None unless the execution is ``running`` and owned by
      ``worker_id``. ``failed`` with ``attempts - lost ≤ retries`` goes back to ``ready`` (a retry:
      ``retries`` counts failures of the step itself, never attempts whose worker was lost).
      ``done`` makes, in the same transaction, every dependent whose needs are all done ``ready``.
      Records end time (``ended``, default now: a result written late keeps the time the step ended),
      duration, exit code, error, provenance; returns the updated record.
    - ``set_status(key, to, expected=)`` compare-and-set; ``to=done`` also readies dependents.
    - ``heartbeat(worker_id, lease_seconds=)`` renews the worker row and the lease of every
      execution it runs; returns the keys it still owns (a key missing from the answer was taken
      over: the worker must stop that process and not report it). ``register_worker`` inserts or
      replaces the worker row; ``unregister_worker`` only deletes it (whatever it still runs is
      reaped when its lease expires: call ``interrupt`` first). ``workers()`` lists the rows with
      the keys each runs; ``WorkerRecord.alive(now)`` tells whether its lease is current.
    - ``reap(now)`` takes back every ``running`` execution whose lease expired, counting it in
      ``lost``: ``ready`` whatever ``retries`` says (losing its worker is no failure of the step),
      but ``failed`` (saying so in ``error``) once its worker was lost :data:`LOST_LIMIT` times;
      returns their keys. ``reap_worker(worker_id)`` does
      the same at once for everything a worker known to be dead held, removes the worker row and
      returns :class:`Reaped` records (with pgids of orphaned process groups to kill).
      ``interrupt(worker_id)`` marks that worker's running executions ``interrupted``.
    - ``log_metrics(key, points)`` appends points in one batch and updates the per-(key, name)
      summary (last, min, max, count) in the same transaction.
    - ``log_metric_rows(key, rows, owner=)`` is ``log_metrics`` for plain :data:`MetricRow` tuples,
      every one of execution ``key`` (the worker's ingest path: no object per point).
    - ``clear_metrics(key, owner=)`` deletes every point and summary of execution ``key`` in one
      transaction (a new attempt starts its metrics afresh); returns whether there was any.
      ``log_metric_rows(..., replace=True)`` does the same before it writes, in its own transaction.
    - With ``owner`` (a worker id), ``log_metric_rows`` and ``clear_metrics`` write only while that
      worker holds ``key`` ``running``, checked in the same transaction (a takeover waits for it);
      otherwise they write nothing and raise :class:`LeaseLost`: the points of an attempt whose
      lease was taken over never mix with those of the attempt that replaced it.
    - Queries never change anything: ``execution`` and ``run`` resolve prefixes/names and raise
      :class:`RunNotFound` (naming the candidates when ambiguous, suggestions when unknown).
    - ``results(experiment, stats=)`` reads every run of an experiment with its derived status and
      times, and the metric summaries of every run's step executions, in a fixed number of bulk
      queries whatever the number of runs (no per-run round trip): a :class:`ResultTables`. An
      execution shared by several runs reports its metrics to each of them. Unknown experiment:
      :class:`RunNotFound` with suggestions.
    - ``metric_series(experiment, name, run_ids=)`` returns every point of metric ``name`` reported
      by the executions of the experiment's runs (of ``run_ids`` only when given), column-wise:
      ``run_id``, ``step_name`` (the run's step), ``step`` (the training step, or None),
      ``value`` (NaN when not a number) and ``time``, ordered by run, step name, time and step.
    - ``metric_envelope(key, name, buckets)`` reads a long series of execution ``key`` as at most
      ``buckets`` rows ``(first step, last step, min value, max value, points)``: its step range cut in
      equal parts, in step order, aggregated by the database; None when some point has no step.
    - ``cancel(experiment, run_ids=None)`` marks the unfinished executions of the experiment (of
      those runs only, minus what they share with other runs) ``cancelled``, with every waiting
      execution downstream of them; returns a ``Cancelled`` naming those that were running (their
      workers see it through ``holders`` and stop them). ``holders(keys)`` gives each key's status
      and worker. ``set_priority(experiment, n)`` re-prioritises its queued executions.
    - Past runs: ``tag(run_id, tags, remove=)`` adds (or removes) tags of a run and returns them sorted;
      ``set_note(run_id, text)`` replaces its note; both raise :class:`RunNotFound` for an unknown id
      and StoreError for a tag with spaces or commas; ``submit`` never changes them.
      ``run_labels(experiment)`` maps each run id that has tags or a note to ``(tags, note)``.
      ``remove_runs(ids)`` deletes the runs, their links, and each of their executions that no
      remaining run links to, with its need edges and metrics, in one transaction; it raises StoreError
      and deletes nothing when one of their executions is running, ready or waiting. An execution
      another run links to is never deleted. ``remove_executions(keys)`` deletes those of ``keys`` no run
      links to and not in use. Both return :class:`Removed` (the deleted executions with their folders:
      the caller deletes the folders after the transaction). ``restore(Restored)`` writes back an
      experiment, its runs (created, stage, origin, tags, note) and executions (status, timings,
      attempts, provenance) in one transaction, replacing rows of the same name, id or key.
    - ``listener()`` returns a wake-up channel (PostgreSQL ``LISTEN``; None on SQLite): every
      transaction that makes work ready, resumes an experiment or cancels sends a notification.
    - Time comes from the injectable ``clock`` (epoch seconds), never from the database server.
    - Connection trouble (server down, SQLite busy beyond its timeout) raises
      :class:`StoreUnavailable` (retry later); other database trouble :class:`StoreError`.
    - A store object may be shared by threads; after ``fork`` the child opens its own store.
    - Roles (``roles.py``): a Store is a ``WorkQueue``, a ``MetricSink`` and a ``ResultsReader``.
      ``opener(url, readonly=True)`` returns a ``ResultsReader`` that answers every query as the
      store does and raises StoreError from every method of ``WRITE_METHODS``, writing nothing.
    """

    url: str
    clock: Clock

    # --- submission -------------------------------------------------------------------------
    @abc.abstractmethod
    def submit(self, plan: Plan, *, force: Collection[str] = (), priority: int = 0) -> SubmitResult: ...

    # --- scheduling -------------------------------------------------------------------------
    @abc.abstractmethod
    def claim(
        self,
        worker_id: str,
        accept: Callable[[ExecRecord], bool],
        *,
        limit: int,
        experiment: str | Sequence[str] | None = None,
        lease_seconds: float = 30.0,
    ) -> list[ExecRecord]: ...

    @abc.abstractmethod
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
    ) -> bool: ...

    @abc.abstractmethod
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
    ) -> ExecRecord | None: ...

    @abc.abstractmethod
    def set_status(self, key: str, to: Status, *, expected: Status) -> bool: ...

    @abc.abstractmethod
    def reap(self, now: float | None = None) -> list[str]: ...

    @abc.abstractmethod
    def reap_worker(self, worker_id: str) -> list[Reaped]: ...

    @abc.abstractmethod
    def interrupt(self, worker_id: str) -> list[str]: ...

    # --- workers ----------------------------------------------------------------------------
    @abc.abstractmethod
    def register_worker(self, info: WorkerInfo, *, lease_seconds: float = 30.0) -> None: ...

    @abc.abstractmethod
    def heartbeat(self, worker_id: str, *, lease_seconds: float = 30.0) -> list[str]: ...

    @abc.abstractmethod
    def unregister_worker(self, worker_id: str) -> None: ...

    @abc.abstractmethod
    def workers(self) -> list[WorkerRecord]: ...

    # --- metrics ----------------------------------------------------------------------------
    @abc.abstractmethod
    def log_metrics(self, key: str, points: Sequence[Metric]) -> None: ...

    @abc.abstractmethod
    def clear_metrics(self, key: str, *, owner: str | None = None) -> bool: ...

    def log_metric_rows(self, key: str, rows: Sequence[MetricRow], *, owner: str | None = None,
                        replace: bool = False) -> None:
        """:meth:`log_metrics` for rows; backends override it with a path that builds no objects, and
        that checks ``owner`` in the transaction that writes (here it is checked just before).
        ``replace``: :meth:`clear_metrics` first (backends: in the same transaction)."""
        if replace:
            self.clear_metrics(key, owner=owner)
        if owner is not None and self.holders([key]).get(key) != (Status.RUNNING, owner):
            raise LeaseLost(f"{key[:12]}: the worker {owner} no longer holds this execution; metrics not stored")
        nan = float("nan")
        self.log_metrics(key, [Metric(name, nan if value is None else value, step, time)
                               for _, name, step, value, time in rows])

    @abc.abstractmethod
    def metric_points(self, key: str, name: str | None = None) -> list[Metric]: ...

    def metric_envelope(self, key: str, name: str,
                        buckets: int) -> list[tuple[int, int, float | None, float | None, int]] | None:
        """See the contract; this default reads every point (SQL stores aggregate in the database)."""
        points = self.metric_points(key, name)
        if not points or any(p.step is None for p in points):
            return None if points else []
        low = min(p.step for p in points if p.step is not None)
        span = max(p.step for p in points if p.step is not None) - low + 1
        rows: dict[int, list[Any]] = {}
        for p in points:
            assert p.step is not None
            bucket = (p.step - low) * buckets // span
            value = None if p.value != p.value else p.value
            row = rows.setdefault(bucket, [p.step, p.step, value, value, 0])
            row[0], row[1], row[4] = min(row[0], p.step), max(row[1], p.step), row[4] + 1
            if value is not None:
                row[2] = value if row[2] is None else min(row[2], value)
                row[3] = value if row[3] is None else max(row[3], value)
        return [tuple(rows[b]) for b in sorted(rows)]

    @abc.abstractmethod
    def metric_summaries(self, keys: Collection[str]) -> dict[str, dict[str, MetricSummary]]: ...

    # --- bulk results (analysis) ------------------------------------------------------------
    @abc.abstractmethod
    def results(self, experiment: str, *, stats: Collection[str] = ("last",)) -> ResultTables: ...

    @abc.abstractmethod
    def metric_series(
        self, experiment: str, name: str, *, run_ids: Collection[str] | None = None
    ) -> dict[str, Sequence[Any]]: ...

    # --- queries ----------------------------------------------------------------------------
    @abc.abstractmethod
    def execution(self, key_or_prefix: str) -> ExecRecord: ...

    @abc.abstractmethod
    def executions(
        self,
        experiment: str | None = None,
        *,
        statuses: Collection[Status] | None = None,
        keys: Collection[str] | None = None,
    ) -> list[ExecRecord]: ...

    @abc.abstractmethod
    def runs(self, experiment: str | None = None) -> list[RunRecord]: ...

    @abc.abstractmethod
    def run(self, id_prefix_or_name: str, experiment: str | None = None) -> RunRecord: ...

    @abc.abstractmethod
    def experiments(self) -> list[str]: ...

    @abc.abstractmethod
    def experiment(self, name: str) -> ExperimentRecord: ...

    @abc.abstractmethod
    def counts(self, experiment: str | None = None) -> dict[Status, int]: ...

    @abc.abstractmethod
    def pause(self, experiment: str, paused: bool = True) -> None: ...

    @abc.abstractmethod
    def cancel(self, experiment: str, run_ids: Collection[str] | None = None) -> Cancelled: ...

    @abc.abstractmethod
    def holders(self, keys: Collection[str]) -> dict[str, tuple[Status, str | None]]: ...

    @abc.abstractmethod
    def set_priority(self, experiment: str, priority: int) -> int: ...

    @abc.abstractmethod
    def listener(self) -> Listener | None: ...

    # --- past runs ---------------------------------------------------------------------------
    @abc.abstractmethod
    def tag(self, run_id: str, tags: Collection[str], *, remove: bool = False) -> tuple[str, ...]: ...

    @abc.abstractmethod
    def set_note(self, run_id: str, note: str) -> None: ...

    @abc.abstractmethod
    def run_labels(self, experiment: str) -> dict[str, tuple[tuple[str, ...], str]]: ...

    @abc.abstractmethod
    def remove_runs(self, run_ids: Collection[str]) -> Removed: ...

    @abc.abstractmethod
    def remove_executions(self, keys: Collection[str]) -> Removed: ...

    @abc.abstractmethod
    def restore(self, restored: Restored) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def wait_for_locks(self, seconds: float | None) -> None:
        """How long one call may wait for a lock another process holds (SQLite) before it raises
        StoreUnavailable; None: the default (a minute). A worker waits in short slices, so that it
        answers signals while another process holds the store. Nothing to do for a server database."""
        return None

    # --- derived helpers ----------------------------------------------------------------------
    def idle(self, experiment: str | None = None) -> bool:
        """True when nothing is ready or running: waiting executions (if any) can only be blocked
        by a failed/interrupted/cancelled upstream, so a draining worker may stop."""
        counts = self.counts(experiment)
        return counts[Status.READY] == 0 and counts[Status.RUNNING] == 0

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def pick_one(what: str, wanted: str, matches: Sequence[str], known: Iterable[str], *, scope: str = "") -> str:
    """Return the single match or raise :class:`RunNotFound` with candidates or suggestions."""
    where = f" in experiment {scope!r}" if scope else ""
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        shown = ", ".join(m[:12] if len(m) == 64 else m for m in sorted(matches)[:8])
        more = f" and {len(matches) - 8} more" if len(matches) > 8 else ""
        raise RunNotFound(f"{what} {wanted!r} is ambiguous{where}: it matches {shown}{more}; give more characters")
    hint = suggest(wanted, known, most=3)
    raise RunNotFound(f"no {what} matches {wanted!r}{where}{hint}")
