"""What is checked before a store is used: that a SQLite store file is a SQLite database (never an
empty or foreign file silently made into a new store), and that a PostgreSQL database stores UTF-8."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from runyard.errors import StoreError

if TYPE_CHECKING:
    from sqlalchemy import Connection

#: The schema version this code writes (``schema.py`` has the tables and the migrations). Bump it and append
#: a function to ``schema.MIGRATIONS`` together.
SCHEMA_VERSION = 5

SQLITE_HEADER = b"SQLite format 3\x00"
#: A 0-byte file younger than this may be a store another process is creating right now (SQLite creates
#: the file at its first connection and writes its header a moment later).
FRESH_SECONDS = 5.0


def check_sqlite_file(file: Path | str) -> None:
    """Raise StoreError when ``file`` exists but is not a SQLite database (0 bytes, or other content)."""
    path = Path(file)
    try:
        info = path.stat()
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return
    except OSError as err:
        raise StoreError(f"cannot read the store {path}: {err.strerror}") from None
    if info.st_size == 0:
        if time.time() - info.st_mtime < FRESH_SECONDS:
            return
        raise StoreError(f"the store {path} is an empty file (0 bytes), not a runyard store: point --store / --home "
                         "at the right file, or delete this one to start a new store there")
    if head != SQLITE_HEADER:
        raise StoreError(f"the store {path} is not a SQLite database (it does not start with the SQLite header): "
                         "point --store / --home at a runyard store, or move this file away to start a new one")


def check_pg_encoding(conn: Connection, shown: str) -> None:
    """Raise StoreError unless the PostgreSQL database behind ``conn`` uses UTF8."""
    from sqlalchemy import text

    encoding = str(conn.execute(text("SHOW server_encoding")).scalar() or "")
    if encoding.upper().replace("-", "") in ("UTF8", "UNICODE"):
        return
    raise not_utf8(str(conn.execute(text("SELECT current_database()")).scalar()), encoding, shown)


def not_utf8(database: str, encoding: str, shown: str) -> StoreError:
    return StoreError(
        f"the PostgreSQL database {database!r} of the store {shown} uses the encoding {encoding}; runyard needs "
        f"UTF8. Create the database with: CREATE DATABASE {database} ENCODING 'UTF8' TEMPLATE template0 "
        "(or make the server's cluster with `initdb -E UTF8`), then point --store at it"
    )


def sqlite_file(url: str) -> str | None:
    """The database file of a ``sqlite:///PATH[?options]`` store URL; None for any other store."""
    return url[len("sqlite:///"):].split("?", 1)[0] if url.startswith("sqlite:///") else None


__all__ = ["check_pg_encoding", "check_sqlite_file", "not_utf8", "sqlite_file"]


def check_not_newer(version: int, *, target: int | None = None, where: str = "the store") -> None:
    target = SCHEMA_VERSION if target is None else target
    if version > target:
        raise StoreError(
            f"{where} has schema version {version}, newer than this runyard knows ({target}): "
            "upgrade runyard (pip install -U runyard) to use it"
        )
