"""The test PostgreSQL server helper: finding binaries, skip vs fail when they are missing."""

from __future__ import annotations

import pytest

from runyard.testing import pgserver


def hide_binaries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pgserver.shutil, "which", lambda _name: None)
    monkeypatch.setattr(pgserver.glob, "glob", lambda _pattern: [])


def test_missing_binaries_skip_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    hide_binaries(monkeypatch)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pgserver.PgUnavailable, match="install the postgresql package"):
        pgserver.find_bindir()
    with pytest.raises(pytest.skip.Exception, match="not found"):
        pgserver.server_for_pytest()


def test_missing_binaries_fail_on_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    hide_binaries(monkeypatch)
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        pgserver.server_for_pytest()


@pytest.mark.postgres
def test_databases_are_independent(pg_server: pgserver.PgServer) -> None:
    import psycopg

    first, second = pg_server.create_database(), pg_server.create_database()
    assert first != second
    with psycopg.connect(first, autocommit=True) as conn:
        conn.execute("CREATE TABLE only_here (x int)")
    with psycopg.connect(second, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('only_here')").fetchone() == (None,)
    pg_server.drop_database(first)
    pg_server.drop_database(second)
