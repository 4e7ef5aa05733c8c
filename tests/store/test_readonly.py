"""What is specific to the SQL store opened read-only: the database itself refuses writes, opening
creates and migrates nothing, and plan's one-moment reads leave no -wal / -shm files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text, update

from runyard.errors import StoreError
from runyard.store import Store, open_store, schema
from runyard.store.readonly import ReadOnlyStore, read_past, run_names
from runyard.testing.store_helpers import ex, plan


def _set_version(store: Store, version: int) -> None:
    with store.tx() as conn:  # type: ignore[attr-defined]
        conn.execute(update(schema.meta).where(schema.meta.c.key == "schema_version").values(value=str(version)))


def test_the_database_refuses_writes_too(store: Store, tmp_path: Path) -> None:
    store.submit(plan(tmp_path, ex(tmp_path, "a")))
    reader = open_store(store.url, readonly=True)
    assert isinstance(reader, ReadOnlyStore)
    try:
        with pytest.raises(StoreError, match="read-only"), reader.tx():  # refused before it starts
            pass
        # a write slipped into a read: the database says no
        with pytest.raises(StoreError, match="read-only"), reader.tx(write=False) as conn:
            conn.execute(text("DELETE FROM executions"))
        with pytest.raises(StoreError, match="read-only"), reader.auto() as conn:
            conn.execute(text("UPDATE experiments SET paused = true"))
    finally:
        reader.close()
    assert len(store.executions()) == 1 and not store.experiment("exp").paused


def test_no_store_is_created(store_url: str, tmp_path: Path) -> None:
    """A missing SQLite file (its folder is not made either) or a database runyard never wrote to."""
    with pytest.raises(StoreError, match=r"no runyard store|no runyard data"):
        open_store(store_url, readonly=True)
    assert not (tmp_path / "home").exists()
    assert read_past(store_url, "exp").exists is False and run_names(store_url, "exp") == {}


def test_other_schema_versions(store: Store, tmp_path: Path) -> None:
    store.submit(plan(tmp_path, ex(tmp_path, "a")))
    _set_version(store, schema.SCHEMA_VERSION + 1)
    with pytest.raises(StoreError, match="newer than this runyard"):
        open_store(store.url, readonly=True)
    with pytest.raises(StoreError, match="newer than this runyard"):
        read_past(store.url, "exp")
    _set_version(store, schema.SCHEMA_VERSION - 1)
    with pytest.raises(StoreError, match=r"older than this runyard's .* open it once for writing"):
        open_store(store.url, readonly=True)
    # planning reads an older store as it is (the run that follows upgrades it)
    assert len(read_past(store.url, "exp").executions) == 1 and len(run_names(store.url, "exp")) == 1
    with open_store(store.url) as migrated:
        assert len(migrated.executions()) == 1
    with open_store(store.url, readonly=True) as reader:
        assert len(reader.executions()) == 1


def test_a_read_of_a_moment_leaves_no_files(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/runyard.db"
    with open_store(url) as store:
        store.submit(plan(tmp_path, ex(tmp_path, "a")))
    files = sorted(os.listdir(tmp_path))
    assert len(read_past(url, "exp").executions) == 1
    assert run_names(url, "exp")
    assert sorted(os.listdir(tmp_path)) == files == ["runyard.db"]
