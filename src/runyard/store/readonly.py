"""The read-only store: what ``open_store(url, readonly=True)`` returns, a
:class:`~runyard.store.roles.ResultsReader` that never creates, migrates or writes anything.

Every write method raises :class:`StoreError`, and the database refuses writes too: SQLite is opened
``mode=ro``, PostgreSQL sessions start read-only transactions. Opening checks that the store exists
and has the schema this code reads (a newer or older one: StoreError, saying what to do).

:func:`read_past` and :func:`run_names` answer ``runyard plan`` and naming from it: what the store
holds of an experiment, or nothing when there is no store yet.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from sqlalchemy import literal, select

from runyard.errors import StoreError
from runyard.store import schema
from runyard.store.base import Clock
from runyard.store.checks import sqlite_file
from runyard.store.engine import disposed_on_error, make_engine, mask_url, parse_url, read_version
from runyard.store.roles import WRITE_METHODS
from runyard.store.sql import SqlStore


@dataclass(frozen=True)
class PastExecution:
    key: str
    step: str
    status: str
    params: dict[str, Any]
    needs: tuple[str, ...]
    folder: str
    exit_code: int | None
    error: str | None
    ended: float | None
    code: str = ""


@dataclass
class Past:
    """An experiment as stored: executions by key, run steps by run id and by run name."""

    executions: dict[str, PastExecution] = field(default_factory=dict)
    by_run_id: dict[str, dict[str, str]] = field(default_factory=dict)  # run id → step → key
    by_run_name: dict[str, dict[str, str]] = field(default_factory=dict)  # run name → step → key
    exists: bool = False  # whether a store was there at all


def _refuse(name: str) -> Callable[..., NoReturn]:
    def refused(self: ReadOnlyStore, *_args: Any, **_kwargs: Any) -> NoReturn:
        raise StoreError(f"the store {self.url} is open read-only: {name}() would write; "
                         "open it with open_store(url) to change it")

    refused.__name__ = name
    return refused


class ReadOnlyStore(SqlStore):
    """A SQL store opened for reading only (see the module docstring); each method of
    :data:`~runyard.store.roles.WRITE_METHODS` raises StoreError (set below the class)."""

    version: int | None = None  # the schema version; None: a database runyard never wrote to

    @classmethod
    def open_readonly(cls, url: str, *, clock: Clock = time.time, any_schema: bool = False,
                      one_read: bool = False) -> ReadOnlyStore:
        """Open the existing store at ``url`` for reading. StoreError when there is none (a missing
        SQLite file, or a database runyard never wrote to) or when its schema is not this code's;
        ``any_schema`` accepts no schema and older ones (for :meth:`past` and :meth:`run_names` only).

        A SQLite reader shares the -wal / -shm files of the live writers, creating them when there are
        none (SQLite leaves them behind, empty). ``one_read``: a read of a moment, which reads a store
        nobody has open (no -wal file) without creating them."""
        shown = mask_url(url.strip())
        path = sqlite_file(url.strip())
        if path is not None and not os.path.isfile(path):
            raise StoreError(f"no runyard store at {path}: nothing to read")
        immutable = one_read and path is not None and not os.path.exists(path + "-wal")
        engine = make_engine(parse_url(url), readonly=True, immutable=immutable)
        # exit 2, nothing to retry: a reader says it cannot read the store
        with disposed_on_error(engine, shown, reading=True):
            version = read_version(engine, shown)
            _check_version(version, shown, any_schema)
        store = cls(engine, shown, clock)
        store.readonly = True
        store.version = version
        return store

    def past(self, experiment: str) -> Past:
        """What the store holds of ``experiment`` (executions and run steps); empty when nothing."""
        if self.version is None:
            return Past()
        past = Past(exists=True)
        x, r, rs = schema.executions, schema.runs, schema.run_steps
        columns = (x.c.key, x.c.step, x.c.status, x.c.params, x.c.needs, x.c.folder, x.c.exit_code, x.c.error,
                   x.c.ended, x.c.code if self.version >= 2 else literal(""))  # version 1 had no code hashes
        with self.tx(write=False) as conn:
            rows = conn.execute(select(*columns).where(x.c.experiment == experiment)).all()
            links = conn.execute(select(r.c.id, r.c.name, rs.c.step, rs.c.exec_key)
                                 .select_from(r.join(rs, rs.c.run_id == r.c.id))
                                 .where(r.c.experiment == experiment)).all()
        for key, step, status, params, needs, folder, exit_code, error, ended, code in rows:
            past.executions[key] = PastExecution(key, step, status, json.loads(params or "{}"),
                                                 tuple(json.loads(needs or "[]")), folder, exit_code, error, ended,
                                                 code or "")
        for run_id, name, step, key in links:
            past.by_run_id.setdefault(run_id, {})[step] = key
            past.by_run_name.setdefault(name, {})[step] = key
        return past

    def run_names(self, experiment: str) -> dict[str, str]:
        """Run name → run id of the runs of ``experiment``."""
        if self.version is None:
            return {}
        r = schema.runs
        with self.tx(write=False) as conn:
            rows = conn.execute(select(r.c.name, r.c.id).where(r.c.experiment == experiment)).all()
        return {name: run_id for name, run_id in rows}

    def earlier_runs(self, experiment: str) -> tuple[dict[str, tuple[str, str]], dict[str, Any] | None]:
        """Run name → (run id, params as stored: JSON text, read only when needed) of the runs of ``experiment``,
        and the params (defaults) of the spec last submitted for it (None when unknown)."""
        if self.version is None:
            return {}, None
        r, x = schema.runs, schema.experiments
        with self.tx(write=False) as conn:
            rows = conn.execute(select(r.c.name, r.c.id, r.c.params).where(r.c.experiment == experiment)).all()
            spec = conn.execute(select(x.c.spec).where(x.c.name == experiment)).scalar()
        return ({name: (run_id, params or "{}") for name, run_id, params in rows},
                spec_params(json.loads(spec) if spec else None))


def spec_params(spec: object) -> dict[str, Any] | None:
    """The ``params:`` of a stored spec (None when it has none that can be read)."""
    params = spec.get("params") if isinstance(spec, dict) else None
    return dict(params) if isinstance(params, dict) else None


def earlier_runs(url: str, experiment: str) -> tuple[dict[str, tuple[str, str]], dict[str, Any] | None]:
    """:meth:`ReadOnlyStore.earlier_runs` of the store at ``url`` (nothing when there is no store yet)."""
    path = sqlite_file(url)
    if path is not None and not os.path.exists(path):
        return {}, None
    with ReadOnlyStore.open_readonly(url, any_schema=True, one_read=True) as reader:
        assert isinstance(reader, ReadOnlyStore)
        return reader.earlier_runs(experiment)


for _write in WRITE_METHODS:  # every method of a store that writes refuses
    setattr(ReadOnlyStore, _write, _refuse(_write))


def _check_version(version: int | None, shown: str, any_schema: bool) -> None:
    if version is None:
        if not any_schema:
            raise StoreError(f"the store {shown} holds no runyard data yet: nothing to read")
        return
    schema.check_not_newer(version, where=f"the store {shown}")
    if version < schema.SCHEMA_VERSION and not any_schema:
        raise StoreError(f"the store {shown} has schema version {version}, older than this runyard's "
                         f"({schema.SCHEMA_VERSION}): open it once for writing (e.g. `runyard status`) to upgrade it")


def read_past(url: str, experiment: str) -> Past:
    """What the store at ``url`` holds of ``experiment``; an empty :class:`Past` when there is no store
    (a SQLite file that does not exist), no schema or no such experiment. StoreError when unreadable."""
    path = sqlite_file(url)
    if path is not None and not os.path.exists(path):
        return Past()
    with ReadOnlyStore.open_readonly(url, any_schema=True, one_read=True) as reader:
        assert isinstance(reader, ReadOnlyStore)
        return reader.past(experiment)


def run_names(url: str, experiment: str) -> dict[str, str]:
    """Run name → run id of the runs the store at ``url`` holds of ``experiment`` (empty when there is no
    store yet): the names a new run of that experiment must not take."""
    path = sqlite_file(url)
    if path is not None and not os.path.exists(path):
        return {}
    with ReadOnlyStore.open_readonly(url, any_schema=True, one_read=True) as reader:
        assert isinstance(reader, ReadOnlyStore)
        return reader.run_names(experiment)
