"""A throw-away PostgreSQL server for tests: ``initdb`` into a temporary folder, ``pg_ctl start``
on 127.0.0.1 at a free port (socket inside the folder, trust auth, no fsync), one fresh database
per test, everything removed on :meth:`PgServer.stop`.

PostgreSQL refuses to run as root; under root the server runs as an unprivileged user
(``nobody`` by default) that owns the temporary folder.

Usage (pytest)::

    server = start_server()          # raises PgUnavailable when the binaries are missing
    url = server.create_database()   # postgresql://postgres@127.0.0.1:PORT/test_1
    ...
    server.drop_database(url)
    server.stop()
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from runyard.testing.processes import process_running

_TOOLS = ("initdb", "pg_ctl", "postgres")


class PgUnavailable(RuntimeError):
    """PostgreSQL binaries are not installed (the message says what was searched)."""


def find_bindir() -> Path:
    """The folder holding initdb/pg_ctl/postgres: PATH first, then /usr/lib/postgresql/*/bin
    (newest version first). Raises PgUnavailable."""
    found = shutil.which("pg_ctl")
    candidates = [Path(found).resolve().parent] if found else []
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name or 0), reverse=True)
    candidates += [Path(p) for p in versions]
    candidates += [Path(p) for p in sorted(glob.glob("/usr/pgsql-*/bin"), reverse=True)]
    for folder in candidates:
        if all((folder / tool).is_file() and os.access(folder / tool, os.X_OK) for tool in _TOOLS):
            return folder
    raise PgUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH nor in "
        "/usr/lib/postgresql/*/bin: install the postgresql package to run these tests"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 where nothing listens for the duration of the block: it is bound (so no other
    process, e.g. a test server started in parallel, can take it) but not listening (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@dataclass
class PgServer:
    base: Path
    bindir: Path
    port: int
    user: str | None  # the OS user running the server, None = the current one
    encoding: str = "UTF8"  # of the cluster's databases (initdb -E); SQL_ASCII is what initdb gives without it
    _names: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def data(self) -> Path:
        return self.base / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        uid = gid = None
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            uid, gid = entry.pw_uid, entry.pw_gid
        return subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.base,
            env={**os.environ, "LC_ALL": "C", "HOME": str(self.base)},
            check=False,
            user=uid,
            group=gid,
            extra_groups=None if uid is None else [],
        )

    def _check(self, result: subprocess.CompletedProcess[str], what: str) -> None:
        if result.returncode != 0:
            log = self.base / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{what} failed ({result.returncode}):\n{result.stdout}{result.stderr}{tail}")

    def start(self) -> None:
        result = self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", self.encoding, "--no-locale", "-N"
        )
        self._check(result, "initdb")
        self.start_again()

    def start_again(self) -> None:
        """Start the server on its data folder and port (after :meth:`halt`)."""
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.base} -F "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        log = str(self.base / "server.log")
        self._check(self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "start"), "pg_ctl start")

    def halt(self, mode: str = "fast") -> None:
        """Stop the server but keep its data (``fast``: roll back open transactions, close every connection);
        :meth:`start_again` brings it back."""
        self._check(self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop"), "pg_ctl stop")

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while the server runs (the first line of ``postmaster.pid``), else None."""
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        """Stop the server (immediate shutdown; SIGKILL to its own postmaster pid if that fails) and delete
        its folder."""
        pid = self.pid
        try:
            if pid is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=30)
                if process_running(pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql)

    def create_database(self, name: str | None = None) -> str:
        """Create a fresh empty database and return its URL."""
        name = name or f"test_{next(self._names)}"
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url_or_name: str) -> None:
        name = url_or_name.rsplit("/", 1)[-1]
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_server(*, user: str = "nobody", attempts: int = 3, encoding: str = "UTF8") -> PgServer:
    """Start a fresh server (as ``user`` when running as root). Raises PgUnavailable when the
    binaries are missing, RuntimeError when the server does not start."""
    bindir = find_bindir()
    as_user = user if os.geteuid() == 0 else None
    error: Exception | None = None
    for _ in range(attempts):  # a free port may be taken between probe and start: retry
        base = Path(tempfile.mkdtemp(prefix="runyard-pg-"))
        if as_user is not None:
            try:
                entry = pwd.getpwnam(as_user)
            except KeyError:
                os.rmdir(base)
                raise RuntimeError(
                    f"PostgreSQL refuses to run as root and there is no user {as_user!r} to run it as"
                ) from None
            os.chown(base, entry.pw_uid, entry.pw_gid)
        server = PgServer(base=base, bindir=bindir, port=free_port(), user=as_user, encoding=encoding)
        try:
            server.start()
            return server
        except (RuntimeError, subprocess.TimeoutExpired) as err:
            error = err
            server.stop()
    raise RuntimeError(f"could not start a PostgreSQL test server: {error}")


def server_for_pytest() -> PgServer:
    """Start a server for a pytest session: skip when PostgreSQL is not installed, except when
    the ``CI`` environment variable is set (then fail: CI must test PostgreSQL)."""
    import pytest

    try:
        return start_server()
    except PgUnavailable as err:
        if os.environ.get("CI"):
            pytest.fail(f"{err} (CI is set, so PostgreSQL tests may not be skipped)")
        pytest.skip(str(err))


@contextlib.contextmanager
def own_server_for_pytest() -> Iterator[PgServer]:
    """A server of a test's own (one it may stop and start again), stopped after the block."""
    server = server_for_pytest()
    try:
        yield server
    finally:
        server.stop()
