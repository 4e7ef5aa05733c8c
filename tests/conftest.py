"""Fixtures shared by every test folder: one PostgreSQL server per test session (started by
``runyard.testing.pgserver``; skipped without PostgreSQL, except under CI) and a fresh database on it."""

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
