"""The store: the database of record (DESIGN §1, §5). ``open_store(url)`` opens SQLite or
PostgreSQL; the contract every backend keeps is the docstring of :class:`Store`."""

from __future__ import annotations

import time

from runyard.store.base import (
    Clock,
    ExecRecord,
    ExperimentRecord,
    MetricSummary,
    Reaped,
    RunRecord,
    Store,
    SubmitResult,
    WorkerRecord,
)

__all__ = [
    "Clock",
    "ExecRecord",
    "ExperimentRecord",
    "MetricSummary",
    "Reaped",
    "RunRecord",
    "Store",
    "SubmitResult",
    "WorkerRecord",
    "open_store",
]


def open_store(url: str, *, clock: Clock = time.time) -> Store:
    """Open (creating or migrating as needed) the store at ``url``.

    ``sqlite:///path/to/runyard.db`` (``sqlite:////abs/path`` for an absolute path, i.e.
    ``"sqlite:///" + str(absolute_path)``; a relative path is taken from the current folder; the
    folder is created) or ``postgresql://user:password@host:port/dbname`` (needs psycopg).
    Raises StoreError (bad URL, newer schema, not a database), StoreUnavailable (server
    unreachable) or MissingDependency (psycopg not installed).
    """
    from runyard.store.sql import SqlStore

    return SqlStore.open(url, clock=clock)
