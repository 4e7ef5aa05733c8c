"""Opening a SQL store: URL parsing, engine set-up (SQLite pragmas, BEGIN IMMEDIATE), schema
creation/migration, error translation, and the shared core of :class:`~runyard.store.sql.SqlStore`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc, text
from sqlalchemy.engine import URL, make_url

from runyard.errors import DiskFull, MissingDependency, StoreError, StoreUnavailable
from runyard.model import Status
from runyard.store import schema
from runyard.store.base import Clock, ExecRecord, Store
from runyard.store.checks import check_pg_encoding, check_sqlite_file
from runyard.store.unchanged import stored_json

VALID_URLS = "sqlite:///path/to/runyard.db or postgresql://user:password@host:port/dbname"
SQLITE_BUSY_TIMEOUT_MS = 60_000
PING_AFTER_IDLE_S = 5.0  # a PostgreSQL connection idle longer than this is checked before use
CHANNEL = "runyard"  # PostgreSQL LISTEN/NOTIFY channel of the wake-ups (store/control.py)
_PG_INIT_LOCK = 0x72756E79  # advisory lock id serialising schema creation ("runy")


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (works on unparseable URLs too)."""
    return re.sub(r"(://[^/:@]*:)[^@/]*@", r"\1***@", url)


def parse_url(url: str) -> URL:
    """Validate a store URL and return the SQLAlchemy URL to open (SQLite folders are created)."""
    raw = url.strip()
    shown = mask_url(raw)
    scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
    if scheme == "sqlite":
        if not raw.startswith("sqlite:///"):
            raise StoreError(f"bad store URL {shown!r}: a SQLite URL is sqlite:///path/to/runyard.db")
        path = raw[len("sqlite:///") :].split("?", 1)[0]
        if not path or path == ":memory:":
            raise StoreError(
                f"bad store URL {shown!r}: an in-memory SQLite store cannot be shared between "
                "processes; give a file, e.g. sqlite:///path/to/runyard.db"
            )
        file = Path(path).expanduser()
        if not file.is_absolute():
            file = Path.cwd() / file
        if file.is_dir():
            raise StoreError(f"bad store URL {shown!r}: {file} is a folder, expected a database file")
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"cannot create the folder of the store {file}: {err.strerror}") from None
        check_sqlite_file(file)
        return URL.create("sqlite", database=str(file))
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise MissingDependency("psycopg", "postgres", "a PostgreSQL store") from None
        try:
            parsed = make_url("postgresql" + raw[len(scheme) :])
        except (exc.ArgumentError, ValueError) as err:
            raise StoreError(f"bad store URL {shown!r}: {err}; expected {VALID_URLS}") from None
        if not parsed.database:
            raise StoreError(f"bad store URL {shown!r}: it names no database; expected {VALID_URLS}")
        return parsed.set(drivername="postgresql+psycopg")
    raise StoreError(f"bad store URL {shown!r}: expected {VALID_URLS}")


def _on_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _on_sqlite_begin)
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _set_wal(cur)
        cur.execute("PRAGMA synchronous = NORMAL")
    finally:
        cur.close()


def _on_readonly_connect(dbapi_conn: Any, _record: Any) -> None:
    """A read-only SQLite connection: the lock wait only (the database is WAL already, or read as it is)."""
    dbapi_conn.isolation_level = None
    dbapi_conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")


def _set_wal(cur: Any) -> None:
    """Switch a fresh database to WAL. The switch needs the database to itself and SQLite does not wait
    for it (no busy handler), so when several processes open a new store at once, retry for a while."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cur.execute("PRAGMA journal_mode = WAL")
            return
        except Exception as err:  # sqlite3.OperationalError: "database is locked"
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _on_sqlite_begin(conn: Connection) -> None:
    options = conn.get_execution_options()
    if options.get("runyard_auto"):
        return  # autocommit: every statement is its own transaction
    conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("runyard_write") else "BEGIN")


def _mark_used(_dbapi_conn: Any, record: Any, *_: Any) -> None:
    record.info["runyard_used"] = time.monotonic()


def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    """Check a connection that sat idle in the pool (the server may have restarted meanwhile):
    a cheap replacement for pool_pre_ping, which costs a round trip on every transaction."""
    if time.monotonic() - record.info.get("runyard_used", 0.0) < PING_AFTER_IDLE_S:
        return
    try:
        cur = dbapi_conn.cursor()
        cur.execute("SELECT 1")
        cur.close()
        dbapi_conn.rollback()
    except Exception as err:
        raise exc.DisconnectionError(str(err)) from err


def make_engine(url: URL, *, readonly: bool = False, immutable: bool = False) -> Engine:
    """The engine of a store. ``readonly``: the database itself refuses writes (SQLite opened
    ``mode=ro``, PostgreSQL sessions whose transactions are read only). ``immutable`` (SQLite, read
    only): read the file without locks and without creating -wal / -shm files, for a short read
    while no other process has the store open."""
    if url.get_backend_name() == "sqlite":
        if readonly:
            from urllib.parse import quote

            path = quote(str(url.database))
            query = {"mode": "ro", "uri": "true", **({"immutable": "1"} if immutable else {})}
            url = URL.create("sqlite", database=f"file:{path}", query=query)
        engine = create_engine(url, pool_size=8, max_overflow=16)
        event.listen(engine, "connect", _on_readonly_connect if readonly else _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
        return engine
    # client_encoding: a database that is not UTF8 (SQL_ASCII) would otherwise hand bytes to SQLAlchemy's
    # set-up; this way the connection works and check_pg_encoding says what is wrong
    connect_args: dict[str, Any] = {"connect_timeout": 10, "application_name": "runyard", "client_encoding": "utf8"}
    if readonly:
        connect_args["options"] = "-c default_transaction_read_only=on"
    engine = create_engine(url, pool_size=4, max_overflow=8, connect_args=connect_args)
    event.listen(engine, "connect", _mark_used)
    event.listen(engine, "checkin", _mark_used)
    event.listen(engine, "checkout", _ping_if_idle)
    return engine


def describe(err: exc.DBAPIError) -> str:
    """First line of the driver's message."""
    message = str(err.orig) if err.orig is not None else str(err)
    return message.strip().splitlines()[0] if message.strip() else type(err.orig).__name__


def translate(err: exc.SQLAlchemyError, url: str) -> StoreError | DiskFull:
    """The runyard error for a database error (OperationalError → StoreUnavailable; no space left for
    the database → DiskFull, which waiting does not cure)."""
    if isinstance(err, exc.DBAPIError):
        what = describe(err)
        if _out_of_space(err, what):
            return DiskFull(url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else f"the store {url}")
        if "readonly database" in what or "read-only transaction" in what:
            return StoreError(f"the store {url} is open read-only: {what}")
        if isinstance(err, exc.OperationalError) or err.connection_invalidated:
            if what == "database is locked":
                what = "another process holds its lock (SQLite: database is locked)"
            return StoreUnavailable(f"the store {url} is unavailable: {what}")
        return StoreError(f"store error ({url}): {what}")
    return StoreError(f"store error ({url}): {err}")


_PG_DISK_FULL = "53100"  # SQLSTATE disk_full


def _out_of_space(err: exc.DBAPIError, what: str) -> bool:
    orig = err.orig
    if getattr(orig, "sqlite_errorcode", None) == 13:  # SQLITE_FULL: "database or disk is full"
        return True
    if getattr(orig, "sqlstate", None) == _PG_DISK_FULL or getattr(orig, "pgcode", None) == _PG_DISK_FULL:
        return True
    return "database or disk is full" in what or "No space left on device" in what


dumps = stored_json  # what nothing_to_submit compares with, so one definition


class SqlCore(Store):
    """What every part of the SQL store shares: the engine, the clock and transactions."""

    def __init__(self, engine: Engine, url: str, clock: Clock = time.time) -> None:
        self._engine = engine
        self.url = url
        self.clock = clock
        self.is_pg = engine.dialect.name == "postgresql"
        self._closed = False
        self._busy_ms = SQLITE_BUSY_TIMEOUT_MS
        self.readonly = False  # a store opened read-only refuses every write transaction

    def wait_for_locks(self, seconds: float | None) -> None:
        self._busy_ms = SQLITE_BUSY_TIMEOUT_MS if seconds is None else max(1, int(seconds * 1000))

    def _connect(self) -> Connection:
        conn = self._engine.connect()
        if not self.is_pg:  # the lock wait this store wants, set on the driver's connection (no BEGIN)
            info = conn.connection.info
            if info.get("runyard_busy_ms", SQLITE_BUSY_TIMEOUT_MS) != self._busy_ms:
                raw: Any = conn.connection.dbapi_connection
                raw.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
                info["runyard_busy_ms"] = self._busy_ms
        return conn

    @classmethod
    def open(cls, url: str, *, clock: Clock = time.time) -> SqlCore:
        sa_url = parse_url(url)
        shown = mask_url(url.strip())
        engine = make_engine(sa_url)
        with disposed_on_error(engine, shown):
            init_schema(engine, shown)
        return cls(engine, shown, clock)

    @contextmanager
    def tx(self, *, write: bool = True) -> Iterator[Connection]:
        """One transaction. On SQLite a write transaction starts with BEGIN IMMEDIATE."""
        if self._closed:
            raise StoreError(f"the store {self.url} is closed")
        if write and self.readonly:
            raise StoreError(f"the store {self.url} is open read-only: nothing can be written through it")
        try:
            with self._connect() as conn:
                if write:
                    conn.execution_options(runyard_write=True)
                with conn.begin():
                    yield conn
        except exc.SQLAlchemyError as err:
            raise translate(err, self.url) from err

    @contextmanager
    def auto(self) -> Iterator[Connection]:
        """A connection in autocommit mode, for single statements (atomic on their own): saves
        the BEGIN/COMMIT round trips."""
        if self._closed:
            raise StoreError(f"the store {self.url} is closed")
        try:
            with self._connect() as conn:
                if self.is_pg:
                    conn.execution_options(isolation_level="AUTOCOMMIT")
                else:
                    conn.execution_options(runyard_auto=True)
                with conn.begin():
                    yield conn
        except exc.SQLAlchemyError as err:
            raise translate(err, self.url) from err

    def notify(self, conn: Connection, payload: str) -> None:
        """Wake listening workers when ``conn``'s transaction commits (PostgreSQL; nothing on SQLite)."""
        if self.is_pg:
            conn.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload[:7000]})

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._engine.dispose()


@contextmanager
def disposed_on_error(engine: Engine, shown: str, *, reading: bool = False) -> Iterator[None]:
    """Opening a store: when the block raises, dispose of ``engine`` (a database error becomes the
    :func:`open_error` that says what to do; ``reading``: a reader's "cannot read the store", exit 2)."""
    try:
        yield
    except exc.DBAPIError as err:
        engine.dispose()
        if reading:
            check = (f"; check that the server runs and the URL (expected {VALID_URLS})"
                     if engine.dialect.name == "postgresql" else "")
            raise StoreError(f"cannot read the store {shown}: {describe(err)}{check}") from None
        raise open_error(err, shown) from None
    except BaseException:
        engine.dispose()
        raise


def read_version(engine: Engine, shown: str) -> int | None:
    """The schema version of the store behind ``engine`` (checking a PostgreSQL database's encoding)."""
    with engine.connect() as conn, conn.begin():
        if engine.dialect.name == "postgresql":
            check_pg_encoding(conn, shown)
        return schema.read_version(conn)


def open_error(err: exc.DBAPIError, shown: str) -> StoreError:
    what = describe(err)
    if "file is not a database" in what:
        return StoreError(f"cannot open the store {shown}: the file is not a SQLite database")
    if isinstance(err, exc.OperationalError):
        return StoreUnavailable(
            f"cannot reach the store {shown}: {what}; check that the server runs and the URL (expected {VALID_URLS})"
        )
    return StoreError(f"cannot open the store {shown}: {what}")


def init_schema(engine: Engine, shown: str) -> None:
    """Create or migrate the schema. Safe when several processes open a fresh store at once:
    creation happens under the database's write lock (SQLite BEGIN IMMEDIATE, a PostgreSQL
    advisory lock), and the version is checked again once the lock is held."""
    version = read_version(engine, shown)
    if version == schema.SCHEMA_VERSION:
        return
    if version is not None:
        schema.check_not_newer(version, target=schema.SCHEMA_VERSION, where=f"the store {shown}")
    with engine.connect() as conn:
        conn.execution_options(runyard_write=True)
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_INIT_LOCK})
            version = schema.read_version(conn)
            if version is None:
                schema.create(conn)
            elif version != schema.SCHEMA_VERSION:
                schema.migrate(conn, version, where=f"the store {shown}")


# --- rows → records ----------------------------------------------------------------------------


def _loads(value: str | None) -> Any:
    return None if value is None else json.loads(value)


#: How a column of the executions table becomes a field of :class:`ExecRecord` (the others are as stored).
_DECODE: dict[str, Callable[[Any], Any]] = {
    "needs": lambda value: tuple(json.loads(value)),
    "params": json.loads,
    "status": Status,
    "provenance": _loads,
    "command_env": _loads,
}
_STORED_FIELDS = tuple(f.name for f in fields(ExecRecord) if f.name != "lost")


def exec_record(row: Mapping[Any, Any]) -> ExecRecord:
    values = {name: row[name] for name in _STORED_FIELDS}
    values["lost"] = row.get("lost", 0)
    for name, decode in _DECODE.items():
        values[name] = decode(values[name])
    return ExecRecord(**values)
