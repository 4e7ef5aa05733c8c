"""Fixtures of the store tests: ``store_url`` / ``store`` over SQLite (a file under tmp_path) and
PostgreSQL (a server started once per session, a fresh database per test), and ``clock``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runyard.store import Store, open_store
from runyard.testing.pgserver import PgServer
from runyard.testing.store_helpers import FakeClock


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/home/runyard.db"
        return
    server: PgServer = request.getfixturevalue("pg_server")
    url = server.create_database()
    try:
        yield url
    finally:
        server.drop_database(url)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(store_url: str, clock: FakeClock) -> Iterator[Store]:
    with open_store(store_url, clock=clock) as opened:
        yield opened
