"""The store in roles: the narrow interfaces each user of the store sees.

- :class:`WorkQueue`, what a worker schedules with: claim, start, lease and heartbeat, finish.
- :class:`MetricSink`, what metric ingestion writes through: append points, clear an attempt's.
- :class:`ResultsReader`, what analysis reads: runs, executions, results and metrics, never a write.
  ``open_store(url, readonly=True)`` returns one that refuses every write (``store/readonly.py``).

A :class:`~runyard.store.base.Store` is all three (plus submission and experiment control); the
semantics of every method are in its docstring. These are structural protocols: any object with
the methods fits, so a test double or a remote store need not inherit from anything.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol

from runyard.model import Metric, Status, WorkerInfo
from runyard.store.records import (
    ExecRecord,
    ExperimentRecord,
    Listener,
    MetricRow,
    MetricSummary,
    Reaped,
    ResultTables,
    RunRecord,
    WorkerRecord,
)

__all__ = ["WRITE_METHODS", "MetricSink", "ResultsReader", "WorkQueue"]

#: The methods of a Store that write (every one outside :class:`ResultsReader` but the wake-up channel
#: and the lock wait): a read-only store raises StoreError from each.
WRITE_METHODS = (
    "submit", "claim", "started", "finish", "set_status", "reap", "reap_worker", "interrupt", "register_worker",
    "heartbeat", "unregister_worker", "log_metrics", "log_metric_rows", "clear_metrics", "pause", "cancel",
    "set_priority", "tag", "set_note", "remove_runs", "remove_executions", "restore",
)


class WorkQueue(Protocol):
    """Scheduling: what a worker needs to take executions, run them under a lease and report them."""

    url: str

    def claim(self, worker_id: str, accept: Callable[[ExecRecord], bool], *, limit: int,
              experiment: str | Sequence[str] | None = None, lease_seconds: float = 30.0) -> list[ExecRecord]: ...

    def started(self, key: str, worker_id: str, *, pid: int, pgid: int | None, host: str,
                command_env: Mapping[str, str] | None = None, lease_seconds: float = 30.0) -> bool: ...

    def finish(self, key: str, worker_id: str, *, status: Status, exit_code: int | None, error: str | None = None,
               provenance: Mapping[str, Any] | None = None, ended: float | None = None) -> ExecRecord | None: ...

    def set_status(self, key: str, to: Status, *, expected: Status) -> bool: ...

    def register_worker(self, info: WorkerInfo, *, lease_seconds: float = 30.0) -> None: ...

    def heartbeat(self, worker_id: str, *, lease_seconds: float = 30.0) -> list[str]: ...

    def unregister_worker(self, worker_id: str) -> None: ...

    def reap(self, now: float | None = None) -> list[str]: ...

    def reap_worker(self, worker_id: str) -> list[Reaped]: ...

    def interrupt(self, worker_id: str) -> list[str]: ...

    def holders(self, keys: Collection[str]) -> dict[str, tuple[Status, str | None]]: ...

    def listener(self) -> Listener | None: ...

    def wait_for_locks(self, seconds: float | None) -> None: ...


class MetricSink(Protocol):
    """Metric ingestion: append points (summaries kept current in the same transaction), clear an
    attempt's. With ``owner``, writes only while that worker holds the execution (else LeaseLost)."""

    def log_metrics(self, key: str, points: Sequence[Metric]) -> None: ...

    def log_metric_rows(self, key: str, rows: Sequence[MetricRow], *, owner: str | None = None,
                        replace: bool = False) -> None: ...

    def clear_metrics(self, key: str, *, owner: str | None = None) -> bool: ...


class ResultsReader(Protocol):
    """Analysis: every query of the store, and nothing that writes."""

    url: str

    def results(self, experiment: str, *, stats: Collection[str] = ("last",)) -> ResultTables: ...

    def metric_series(self, experiment: str, name: str, *,
                      run_ids: Collection[str] | None = None) -> dict[str, Sequence[Any]]: ...

    def metric_points(self, key: str, name: str | None = None) -> list[Metric]: ...

    def metric_envelope(self, key: str, name: str,
                        buckets: int) -> list[tuple[int, int, float | None, float | None, int]] | None: ...

    def metric_summaries(self, keys: Collection[str]) -> dict[str, dict[str, MetricSummary]]: ...

    def execution(self, key_or_prefix: str) -> ExecRecord: ...

    def executions(self, experiment: str | None = None, *, statuses: Collection[Status] | None = None,
                   keys: Collection[str] | None = None) -> list[ExecRecord]: ...

    def runs(self, experiment: str | None = None) -> list[RunRecord]: ...

    def run(self, id_prefix_or_name: str, experiment: str | None = None) -> RunRecord: ...

    def experiments(self) -> list[str]: ...

    def experiment(self, name: str) -> ExperimentRecord: ...

    def counts(self, experiment: str | None = None) -> dict[Status, int]: ...

    def run_labels(self, experiment: str) -> dict[str, tuple[tuple[str, ...], str]]: ...

    def holders(self, keys: Collection[str]) -> dict[str, tuple[Status, str | None]]: ...

    def workers(self) -> list[WorkerRecord]: ...

    def close(self) -> None: ...

    def __enter__(self) -> ResultsReader: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...
