"""Fixtures shared by every test folder: one PostgreSQL server per test session (started by
``runyard.testing.pgserver``; skipped without PostgreSQL, except under CI) and a fresh database on it.

Under pytest-xdist every worker is a session of its own: it starts its own server (own folder, own free
port) the first time one of its tests needs it and stops it at its end. A test that stops or breaks its
server takes one of its own (``own_server_for_pytest``); everything else a test writes goes under its
``tmp_path``, so tests may run in any order on any worker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runyard.testing.pgserver import PgServer, server_for_pytest


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = server_for_pytest()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """The URL of a fresh database on the session's server, dropped after the test."""
    url = pg_server.create_database()
    try:
        yield url
    finally:
        pg_server.drop_database(url)
