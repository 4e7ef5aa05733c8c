"""Whether ``runyard run`` has anything to do at all, read with the standard library's SQLite driver.

A fully cached re-run must not pay for SQLAlchemy, a write transaction or a worker: when
:func:`nothing_to_submit` says so, every execution of the plan is done with its folder present and the
store already holds the experiment and its runs exactly as a submit would write them. Never creates,
migrates or locks a store; SQLite only (PostgreSQL: always False, the usual submit follows).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from runyard.errors import StoreError
from runyard.store.checks import SCHEMA_VERSION, check_sqlite_file, sqlite_file

if TYPE_CHECKING:
    from collections.abc import Callable

    from runyard.model import Plan

    Query = Callable[[str, dict[str, Any]], list[Any] | None]

_KEYS_PER_QUERY = 500  # far below SQLite's parameter limit


def stored_json(value: Any) -> str:
    """JSON as the store keeps params and environments: canonical, compact."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def spec_json(spec: Any) -> str:
    """JSON as the store keeps a spec: in its own key order (it names runs and orders plans), compact."""
    return json.dumps(dict(spec), separators=(",", ":"), default=str)


@contextmanager
def _reader(path: str) -> Iterator[Query]:
    check_sqlite_file(path)  # an empty or foreign file is no store to read
    # no -wal file: nobody has the store open, and ``immutable`` reads without creating -wal / -shm files
    mode = "mode=ro" if os.path.exists(path + "-wal") else "mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(f"file:{quote(os.path.abspath(path))}?{mode}", uri=True, timeout=10)
    except sqlite3.Error as err:
        raise StoreError(f"cannot read the store {path}: {err}") from None

    def query(sql: str, params: dict[str, Any]) -> list[Any] | None:
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as err:
            if "no such" in str(err):  # no schema yet: nothing is known, so something is to do
                return None
            raise StoreError(f"cannot read the store {path}: {err}") from None
        except sqlite3.DatabaseError as err:
            raise StoreError(f"cannot read the store {path}: {err}") from None

    try:
        yield query
    finally:
        conn.close()


def nothing_to_submit(url: str, plan: Plan) -> bool:
    """Whether submitting ``plan`` (nothing forced) to the SQLite store at ``url`` would change nothing
    but the experiment's time stamp: every execution done with its folder there, the experiment's spec,
    spec path and home as stored, and every run with the same fields and steps. False for PostgreSQL, a
    store of another schema version, and whenever in doubt."""
    path = sqlite_file(url)
    if path is None or not os.path.exists(path) or not plan.executions:
        return False
    with _reader(path) as query:
        version = query("SELECT value FROM meta WHERE key = 'schema_version'", {}) or []
        if not version or str(version[0][0]) != str(SCHEMA_VERSION):
            return False
        stored = query("SELECT spec, spec_path, home FROM experiments WHERE name = :e", {"e": plan.experiment}) or []
        if not stored or tuple(stored[0]) != (spec_json(plan.spec), plan.spec_path, plan.home):
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
