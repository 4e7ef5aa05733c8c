"""What is specific to the SQL store: URLs, opening, schema versions and migrations, SQLite
settings, connection trouble, import cost, bulk submit speed."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, event, text, update

from runyard.errors import MissingDependency, StoreError, StoreUnavailable
from runyard.model import Run, Status
from runyard.store import Store, open_store, schema
from runyard.store.engine import mask_url
from runyard.testing.pgserver import PgServer, closed_port, start_server
from runyard.testing.store_helpers import ex, plan


def set_version(store: Store, version: int) -> None:
    with store.tx() as conn:  # type: ignore[attr-defined]
        conn.execute(update(schema.meta).where(schema.meta.c.key == "schema_version").values(value=str(version)))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u:secret@host/db", "expected sqlite:///"),
        ("runyard.db", "expected sqlite:///"),
        ("sqlite://relative.db", "sqlite:///path/to/runyard.db"),
        ("sqlite:///:memory:", "in-memory"),
        ("postgresql://u:secret@host:5432", "names no database"),
        ("postgresql://u:secret@host:notaport/db", "bad store URL"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message) as err:
        open_store(url)
    assert "secret" not in str(err.value)


def test_mask_url() -> None:
    assert mask_url("postgresql://me:p%40ss@h:5/db") == "postgresql://me:***@h:5/db"
    assert mask_url("postgresql://me@h/db") == "postgresql://me@h/db"


def test_sqlite_creates_folder_and_refuses_folders_and_other_files(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path}/a/b/runyard.db") as store:
        assert store.counts()[Status.READY] == 0
    assert (tmp_path / "a" / "b" / "runyard.db").is_file()
    with pytest.raises(StoreError, match="is a folder"):
        open_store(f"sqlite:///{tmp_path}/a")
    (tmp_path / "junk.db").write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match="not a SQLite database"):
        open_store(f"sqlite:///{tmp_path}/junk.db")
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError, match="cannot create the folder"):
        open_store(f"sqlite:///{tmp_path}/file/sub/runyard.db")


def test_sqlite_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store("sqlite:///rel/runyard.db") as store:
        assert store.url == "sqlite:///rel/runyard.db"
    assert (tmp_path / "rel" / "runyard.db").is_file()


def test_sqlite_settings(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path}/runyard.db") as store, store.auto() as conn:  # type: ignore[attr-defined]
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 30_000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL


def test_missing_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(MissingDependency, match=r"pip install 'runyard\[postgres\]'"):
        open_store("postgresql://u@localhost/db")


def test_unreachable_server() -> None:
    with closed_port() as port:
        url = f"postgresql://me:secret@127.0.0.1:{port}/db"
        start = time.monotonic()
        with pytest.raises(StoreUnavailable, match="cannot reach the store") as err:
            open_store(url)
    assert "secret" not in str(err.value) and "me:***@" in str(err.value)
    assert time.monotonic() - start < 10


def test_newer_schema_is_refused(store_url: str) -> None:
    with open_store(store_url) as store:
        set_version(store, schema.SCHEMA_VERSION + 1)
    with pytest.raises(StoreError, match=r"newer than this runyard knows.*upgrade runyard"):
        open_store(store_url)


def test_older_schema_is_migrated_in_order(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_store(store_url) as store:
        set_version(store, 1)
    calls: list[int] = []

    def to_2(conn: Connection) -> None:
        calls.append(2)
        conn.execute(text("CREATE TABLE extra (x INTEGER)"))

    def to_3(conn: Connection) -> None:
        calls.append(3)
        conn.execute(text("INSERT INTO extra (x) VALUES (3)"))

    monkeypatch.setattr(schema, "SCHEMA_VERSION", 3)
    monkeypatch.setattr(schema, "MIGRATIONS", [to_2, to_3])
    with open_store(store_url) as store, store.auto() as conn:  # type: ignore[attr-defined]
        assert calls == [2, 3]
        assert schema.read_version(conn) == 3
        assert conn.execute(text("SELECT x FROM extra")).scalar() == 3
    with open_store(store_url):
        assert calls == [2, 3], "an up-to-date store is not migrated again"


V2_COLUMNS = {"executions": ("kind", "code", "snapshot"), "runs": ("stage", "origin")}


def test_version_1_store_gains_the_version_2_columns_and_keeps_its_rows(store_url: str, tmp_path: Path) -> None:
    with open_store(store_url) as store:
        a = ex(tmp_path, "a")
        store.submit(plan(tmp_path, a, runs=[Run("r1", "exp", "r1", {"x": 1}, (("a", a.key),), "/tmp/r1")]))
        with store.tx() as conn:  # type: ignore[attr-defined]
            for table, columns in V2_COLUMNS.items():  # back to the version 1 layout
                for column in columns:
                    conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        set_version(store, 1)
    with open_store(store_url) as store:
        record = store.execution(a.key)
        assert (record.kind, record.code, record.snapshot) == ("command", "", None)
        (run,) = store.runs("exp")
        assert (run.name, run.stage, run.origin) == ("r1", "sweep", None)
        with store.auto() as conn:  # type: ignore[attr-defined]
            assert schema.read_version(conn) == schema.SCHEMA_VERSION


def test_version_3_store_gains_tags_and_notes_and_keeps_its_rows(store_url: str, tmp_path: Path) -> None:
    with open_store(store_url) as store:
        a = ex(tmp_path, "a")
        store.submit(plan(tmp_path, a, runs=[Run("r1", "exp", "r1", {"x": 1}, (("a", a.key),), "/tmp/r1")]))
        with store.tx() as conn:  # type: ignore[attr-defined]
            for column in ("tags", "note"):  # back to the version 3 layout
                conn.execute(text(f"ALTER TABLE runs DROP COLUMN {column}"))
        set_version(store, 3)
    with open_store(store_url) as store:
        (run,) = store.runs("exp")
        assert (run.name, run.tags, run.note) == ("r1", (), "")
        assert store.tag("r1", ["kept"]) == ("kept",)
        with store.auto() as conn:  # type: ignore[attr-defined]
            assert schema.read_version(conn) == schema.SCHEMA_VERSION


def test_migrate_errors() -> None:
    with pytest.raises(StoreError, match="cannot migrate"):
        schema.migrate(None, 1, target=3, migrations=[])  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="newer"):
        schema.migrate(None, 4, target=3, migrations=[])  # type: ignore[arg-type]


def test_fresh_store_opened_by_many_processes_at_once(store_url: str) -> None:
    code = (
        "import sys\nfrom runyard.store import open_store\n"
        "with open_store(sys.argv[1]) as s:\n    assert s.counts() is not None\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, store_url], stderr=subprocess.PIPE, text=True) for _ in range(5)
    ]
    errors = [p.communicate(timeout=60)[1] for p in procs if p.wait(timeout=60) != 0]
    assert not errors, errors
    with open_store(store_url) as store, store.auto() as conn:  # type: ignore[attr-defined]
        assert schema.read_version(conn) == schema.SCHEMA_VERSION


def test_closed_store(store: Store) -> None:
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.counts()


@pytest.mark.postgres
def test_lost_server_raises_store_unavailable(tmp_path: Path, pg_server: PgServer) -> None:
    server = start_server()  # a server of its own, to kill
    try:
        store = open_store(server.create_database())
        store.submit(plan(tmp_path, ex(tmp_path, "a")))
    finally:
        server.stop()
    with pytest.raises(StoreUnavailable, match="unavailable"):
        store.counts()
    with pytest.raises(StoreUnavailable):
        store.claim("w", lambda r: True, limit=1)
    store.close()


def test_import_is_light() -> None:
    code = (
        "import sys, runyard, runyard.store, runyard.store.base\n"
        "bad = [m for m in sys.modules if m.startswith(('sqlalchemy', 'psycopg'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_no_op_resume_of_10000_done_is_fast(store: Store, tmp_path: Path) -> None:
    # one shared (existing) folder: creating 10,000 folders would dominate the test's time
    execs = [dataclasses.replace(ex(tmp_path, f"e{i}"), folder=str(tmp_path)) for i in range(10_000)]
    big = plan(tmp_path, *execs)
    assert len(store.submit(big).added) == 10_000
    with store.tx() as conn:  # type: ignore[attr-defined]
        conn.execute(update(schema.executions).values(status="done", duration=1.0))
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.split(None, 1)[0].upper() + " " + statement)

    engine = store._engine  # type: ignore[attr-defined]
    event.listen(engine, "before_cursor_execute", seen)
    try:
        result = store.submit(big)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(result.cached) == 10_000 and result.queued == 0
    # fast by construction, whatever the machine's load (the time is measured in bench/resume.py): a
    # bounded number of batched reads, not a query per execution, and no execution written again
    assert 0 < len(statements) < 100, f"{len(statements)} statements for a no-op resubmit of 10,000 executions"
    rewrites = [s for s in statements if s.startswith(("INSERT", "UPDATE", "DELETE")) and "executions" in s]
    assert rewrites == []


def test_many_runs_with_statuses(store: Store, tmp_path: Path) -> None:
    execs = [ex(tmp_path, f"e{i}") for i in range(600)]
    runs = [Run(e.key, "exp", f"r{i}", {"i": i}, (("s", e.key),), str(tmp_path)) for i, e in enumerate(execs)]
    store.submit(plan(tmp_path, *execs, runs=runs))
    store.set_status(execs[7].key, Status.DONE, expected=Status.READY)
    got = store.runs("exp")
    assert len(got) == 600 and all(len(r.steps) == 1 for r in got)
    assert {r.name: r.status for r in got}["r7"] == Status.DONE
    assert sum(r.status == Status.READY for r in got) == 599
