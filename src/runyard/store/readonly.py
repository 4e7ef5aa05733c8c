"""Read an experiment's executions and run steps without opening the store for writing: what
``runyard plan`` compares a plan with, and whether ``runyard run`` has anything to do at all
(:func:`nothing_to_submit`). Never creates, migrates or locks a store.

SQLite: the standard library's driver on a ``mode=ro`` URI (no WAL switch, no schema check). PostgreSQL:
plain SELECTs on a SQLAlchemy engine, without the schema set-up :func:`open_store` does.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runyard.errors import StoreError
from runyard.store.checks import SCHEMA_VERSION, check_not_newer, check_sqlite_file, not_utf8

if TYPE_CHECKING:
    from runyard.model import Plan

_EXEC_COLS = ("key", "step", "status", "params", "needs", "folder", "exit_code", "error", "ended", "code")


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


def sqlite_path(url: str) -> str | None:
    return url[len("sqlite:///"):].split("?", 1)[0] if url.startswith("sqlite:///") else None


def read_past(url: str, experiment: str) -> Past:
    """What the store at ``url`` holds of ``experiment``; an empty :class:`Past` when there is no store
    (a SQLite file that does not exist), no schema or no such experiment. StoreError when unreadable."""
    path = sqlite_path(url)
    if path is not None and not os.path.exists(path):
        return Past()
    with _connect(url, path) as query:
        if path is None:
            found = query("SELECT current_database(), current_setting('server_encoding')", {}) or [("", "")]
            database, encoding = str(found[0][0]), str(found[0][1])
            if encoding.upper() not in ("UTF8", "UNICODE"):
                raise not_utf8(database, encoding, _shown(url))
        tables = query("SELECT 1 FROM runs LIMIT 1", {}, probe=True)
        if tables is None:
            return Past()
        version = query("SELECT value FROM meta WHERE key = 'schema_version'", {}, probe=True) or []
        if version and str(version[0][0]).isdigit():
            check_not_newer(int(version[0][0]), where=f"the store {_shown(url)}")
        past = Past(exists=True)
        rows = query(f"SELECT {', '.join(_EXEC_COLS)} FROM executions WHERE experiment = :e", {"e": experiment},
                     probe=True)
        if rows is None:  # a store older than code hashes
            rows = [(*r, "") for r in query(f"SELECT {', '.join(_EXEC_COLS[:-1])} FROM executions "
                                            "WHERE experiment = :e", {"e": experiment}) or []]
        for row in rows:
            ex = PastExecution(key=row[0], step=row[1], status=row[2], params=json.loads(row[3] or "{}"),
                               needs=tuple(json.loads(row[4] or "[]")), folder=row[5], exit_code=row[6],
                               error=row[7], ended=row[8], code=row[9] or "")
            past.executions[ex.key] = ex
        links = query("SELECT r.id, r.name, s.step, s.exec_key FROM runs r JOIN run_steps s ON s.run_id = r.id "
                      "WHERE r.experiment = :e", {"e": experiment}) or []
        for run_id, name, step, key in links:
            past.by_run_id.setdefault(run_id, {})[step] = key
            past.by_run_name.setdefault(name, {})[step] = key
        return past


def run_names(url: str, experiment: str) -> dict[str, str]:
    """Run name → run id of the runs the store at ``url`` holds of ``experiment`` (empty when there is no
    store yet): the names a new run of that experiment must not take."""
    path = sqlite_path(url)
    if path is not None and not os.path.exists(path):
        return {}
    with _connect(url, path) as query:
        rows = query("SELECT name, id FROM runs WHERE experiment = :e", {"e": experiment}, probe=True)
    return {name: run_id for name, run_id in rows or []}


def stored_json(value: Any) -> str:
    """JSON as the store keeps it (specs, params, environments): canonical, compact."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


_KEYS_PER_QUERY = 500  # far below SQLite's parameter limit


def nothing_to_submit(url: str, plan: Plan) -> bool:
    """Whether submitting ``plan`` (nothing forced) to the SQLite store at ``url`` would change nothing
    but the experiment's time stamp: every execution done with its folder there, the experiment's spec,
    spec path and home as stored, and every run with the same fields and steps. ``runyard run`` then
    has nothing to run and does not open the store for writing. False for PostgreSQL, a store of
    another schema version, and whenever in doubt."""
    path = sqlite_path(url)
    if path is None or not os.path.exists(path) or not plan.executions:
        return False
    with _connect(url, path) as query:
        version = query("SELECT value FROM meta WHERE key = 'schema_version'", {}, probe=True) or []
        if not version or str(version[0][0]) != str(SCHEMA_VERSION):
            return False
        stored = query("SELECT spec, spec_path, home FROM experiments WHERE name = :e", {"e": plan.experiment}) or []
        if not stored or tuple(stored[0]) != (stored_json(dict(plan.spec)), plan.spec_path, plan.home):
            return False
        keys = [ex.key for ex in plan.executions]
        done: set[str] = set()
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            part = keys[start:start + _KEYS_PER_QUERY]
            marks = ", ".join(f":k{i}" for i in range(len(part)))
            rows = query(f"SELECT key FROM executions WHERE status = 'done' AND key IN ({marks})",
                         {f"k{i}": key for i, key in enumerate(part)}) or []
            done.update(row[0] for row in rows)
        if len(done) != len(set(keys)) or not all(os.path.isdir(ex.folder) for ex in plan.executions):
            return False
        runs = {row[0]: tuple(row[1:]) for row in query(
            "SELECT id, experiment, name, params, folder, stage, origin FROM runs WHERE experiment = :e",
            {"e": plan.experiment}) or []}
        steps: dict[str, dict[str, tuple[int, str]]] = {}
        for run_id, step, pos, key in query(
                "SELECT s.run_id, s.step, s.pos, s.exec_key FROM run_steps s JOIN runs r ON r.id = s.run_id "
                "WHERE r.experiment = :e", {"e": plan.experiment}) or []:
            steps.setdefault(run_id, {})[step] = (pos, key)
    for run in plan.runs:
        fields = (run.experiment, run.name, stored_json(dict(run.params)), run.folder, run.stage, run.origin)
        if runs.get(run.id) != fields:
            return False
        if steps.get(run.id, {}) != {step: (pos, key) for pos, (step, key) in enumerate(run.steps)}:
            return False
    return True


Query = Any


def _shown(url: str) -> str:
    from runyard.store.engine import mask_url

    return mask_url(url)


@contextmanager
def _connect(url: str, path: str | None) -> Iterator[Query]:
    if path is not None:
        import sqlite3
        from urllib.parse import quote

        # no -wal file: nobody has the store open, and ``immutable`` reads without creating -wal / -shm
        # files; else a plain read-only connection shares the live writers' -shm
        check_sqlite_file(path)  # an empty or foreign file is no store to read
        mode = "mode=ro" if os.path.exists(path + "-wal") else "mode=ro&immutable=1"
        try:
            conn = sqlite3.connect(f"file:{quote(os.path.abspath(path))}?{mode}", uri=True, timeout=10)
        except sqlite3.Error as err:
            raise StoreError(f"cannot read the store {path}: {err}") from None

        def query(sql: str, params: dict[str, Any], probe: bool = False) -> list[Any] | None:
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.OperationalError as err:
                if probe and ("no such" in str(err)):
                    return None
                raise StoreError(f"cannot read the store {path}: {err}") from None
            except sqlite3.DatabaseError as err:
                raise StoreError(f"cannot read the store {path}: {err}") from None

        try:
            yield query
        finally:
            conn.close()
        return
    from sqlalchemy import exc, text

    from runyard.store.engine import VALID_URLS, describe, make_engine, mask_url, parse_url

    engine = make_engine(parse_url(url))
    try:
        def pg_query(sql: str, params: dict[str, Any], probe: bool = False) -> list[Any] | None:
            try:
                with engine.connect() as conn:
                    return [tuple(r) for r in conn.execute(text(sql), params)]
            except exc.ProgrammingError:
                if probe:
                    return None
                raise
            except exc.DBAPIError as err:  # one line: the driver's first, and what to check
                raise StoreError(f"cannot read the store {mask_url(url)}: {describe(err)}; check that the server "
                                 f"runs and the URL (expected {VALID_URLS})") from None
            except exc.SQLAlchemyError as err:
                raise StoreError(f"cannot read the store {mask_url(url)}: {str(err).splitlines()[0]}") from None

        yield pg_query
    finally:
        engine.dispose()
