"""What is where the store should be: an empty or foreign file, a store of a newer runyard, a PostgreSQL
database that is not UTF8. Every command says so in one message, exits 2, and writes nothing."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runyard.testing.outage import Sweep
from runyard.testing.pgserver import PgServer, PgUnavailable, start_server

COMMANDS = [("run",), ("plan",), ("ls",), ("compare", "outage")]


def check_refused(sweep: Sweep, args: tuple[str, ...], *expected: str) -> None:
    done = sweep.runyard(*args)
    message = done.stderr.strip()
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert len(message.splitlines()) == 1, message
    for text in expected:
        assert text in message, message


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
@pytest.mark.parametrize("content", [b"", b"name,value\nlr,0.1\n" * 20], ids=["empty", "csv"])
def test_a_file_that_is_not_a_store_is_refused(tmp_path: Path, args: tuple[str, ...], content: bytes) -> None:
    db = tmp_path / "runyard.db"
    db.write_bytes(content)
    an_hour_ago = time.time() - 3600  # an empty file just made may be a store being created by another process
    os.utime(db, (an_hour_ago, an_hour_ago))
    sweep = Sweep(tmp_path / "proj", f"sqlite:///{db}")
    sweep.write(2, hold=False)
    check_refused(sweep, args, str(db), "empty file (0 bytes)" if not content else "not a SQLite database")
    assert db.read_bytes() == content
    assert not (tmp_path / "proj" / "home").exists() and sweep.lines("start") == []


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
def test_a_store_of_a_newer_runyard_is_refused(tmp_path: Path, args: tuple[str, ...]) -> None:
    db = tmp_path / "runyard.db"
    sweep = Sweep(tmp_path / "proj", f"sqlite:///{db}")
    sweep.write(2, hold=False)
    assert sweep.runyard("run").returncode == 0
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    before = db.read_bytes()
    started = len(sweep.started())
    check_refused(sweep, args, "schema version 99, newer than this runyard knows", "upgrade runyard")
    assert db.read_bytes() == before and len(sweep.started()) == started


@pytest.fixture(scope="module")
def sql_ascii_server() -> Iterator[PgServer]:
    """A cluster made by ``initdb`` without ``-E UTF8`` (under LC_ALL=C: SQL_ASCII)."""
    try:
        server = start_server(encoding="SQL_ASCII")
    except PgUnavailable as err:
        if os.environ.get("CI"):
            pytest.fail(f"{err} (CI is set, so PostgreSQL tests may not be skipped)")
        pytest.skip(str(err))
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.postgres
@pytest.mark.parametrize("args", [*COMMANDS, ("worker", "--burst"), ("submit",)], ids=lambda a: a[0])
def test_a_postgresql_database_that_is_not_utf8_is_refused(sql_ascii_server: PgServer, tmp_path: Path,
                                                           args: tuple[str, ...]) -> None:
    url = sql_ascii_server.create_database()
    sweep = Sweep(tmp_path / "proj", url)
    sweep.write(2, hold=False)
    check_refused(sweep, args, "uses the encoding SQL_ASCII; runyard needs UTF8", "ENCODING 'UTF8'",
                  "initdb -E UTF8")
    assert sweep.lines("start") == []
    import psycopg  # the database stays empty: no table was created

    with psycopg.connect(url, client_encoding="utf8") as conn:
        count = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    assert count is not None and count[0] == 0
