"""The store: the database of record (DESIGN §1, §5). ``open_store(url)`` opens SQLite or
PostgreSQL; the contract every backend keeps is the docstring of :class:`Store`. Its users see it in
roles (``roles.py``): a worker the :class:`WorkQueue`, ingestion the :class:`MetricSink`, analysis the
:class:`ResultsReader` (``open_store(url, readonly=True)`` gives one that refuses writes)."""

from __future__ import annotations

import time
from typing import Literal, overload

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
from runyard.store.roles import MetricSink, ResultsReader, WorkQueue

__all__ = [
    "Clock",
    "ExecRecord",
    "ExperimentRecord",
    "MetricSink",
    "MetricSummary",
    "Reaped",
    "ResultsReader",
    "RunRecord",
    "Store",
    "SubmitResult",
    "WorkQueue",
    "WorkerRecord",
    "open_store",
]


@overload
def open_store(url: str, *, clock: Clock = ..., readonly: Literal[False] = False) -> Store: ...


@overload
def open_store(url: str, *, clock: Clock = ..., readonly: Literal[True]) -> ResultsReader: ...


def open_store(url: str, *, clock: Clock = time.time, readonly: bool = False) -> Store | ResultsReader:
    """Open (creating or migrating as needed) the store at ``url``.

    ``readonly=True`` opens an existing store for reading only, creating and migrating nothing: a
    :class:`ResultsReader` whose every write method raises StoreError (the database refuses writes
    too). StoreError when there is no store there, or its schema is older or newer than this code's.

    ``sqlite:///path/to/runyard.db`` (``sqlite:////abs/path`` for an absolute path, i.e.
    ``"sqlite:///" + str(absolute_path)``; a relative path is taken from the current folder; the
    folder is created) or ``postgresql://user:password@host:port/dbname`` (needs psycopg).
    Raises StoreError (bad URL, newer schema, not a database), StoreUnavailable (server
    unreachable) or MissingDependency (psycopg not installed).
    """
    if readonly:
        from runyard.store.readonly import ReadOnlyStore

        return ReadOnlyStore.open_readonly(url, clock=clock)
    from runyard.store.sql import SqlStore

    return SqlStore.open(url, clock=clock)
