"""Tables of the SQL store (SQLAlchemy Core), the schema version and the ordered migrations.

No foreign keys are declared: every write path keeps the references consistent itself, and
foreign keys would cost on the hot scheduling path. JSON is stored as text (``json.dumps``).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    inspect,
    select,
    text,
    update,
)

from runyard.errors import StoreError
from runyard.store.checks import SCHEMA_VERSION as SCHEMA_VERSION  # the version this code writes
from runyard.store.checks import check_not_newer as check_not_newer

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String, primary_key=True),
    Column("value", Text, nullable=False),
)

experiments = Table(
    "experiments",
    metadata,
    Column("name", String, primary_key=True),
    Column("spec", Text, nullable=False),  # JSON of Plan.spec
    Column("spec_path", Text, nullable=False),
    Column("home", Text, nullable=False),
    Column("paused", Boolean, nullable=False, default=False),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
)

executions = Table(
    "executions",
    metadata,
    Column("key", String, primary_key=True),
    Column("experiment", String, nullable=False),
    Column("step", String, nullable=False),
    Column("command", Text, nullable=False),
    Column("needs", Text, nullable=False),  # JSON list of keys (also in exec_needs)
    Column("folder", Text, nullable=False),
    Column("workdir", Text, nullable=False),
    Column("params", Text, nullable=False),  # JSON object
    Column("gpus", Integer, nullable=False),
    Column("timeout", Float),
    Column("retries", Integer, nullable=False),
    Column("status", String, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("worker_id", String),
    Column("host", String),
    Column("pid", Integer),
    Column("pgid", Integer),
    Column("exit_code", Integer),
    Column("submitted", Float, nullable=False),
    Column("started", Float),
    Column("ended", Float),
    Column("duration", Float),
    Column("lease_expires", Float),
    Column("est_duration", Float),
    Column("error", Text),
    Column("provenance", Text),  # JSON object
    Column("command_env", Text),  # JSON object
    Column("kind", String, nullable=False, server_default="command"),  # v2
    Column("code", String, nullable=False, server_default=""),  # v2
    Column("snapshot", Text),  # v2
    Column("lost", Integer, nullable=False, server_default="0"),  # v3: attempts whose worker was lost
    Column("gpu_mem", BigInteger),  # v4: bytes of free memory needed on each GPU (``gpu_mem:``), or none
)

_x = executions.c


def _claim_index(name: str, *leading: Column[str]) -> None:
    """An index in claim order after ``leading``: priority DESC, est_duration DESC NULLS LAST, seq ASC.
    SQLite sorts NULLs first in ascending order (so last when DESC) and has no NULLS LAST in CREATE
    INDEX; PostgreSQL needs it."""
    Index(name, *leading, _x.priority.desc(), _x.est_duration.desc(), _x.seq).ddl_if(dialect="sqlite")
    Index(name, *leading, _x.priority.desc(), _x.est_duration.desc().nulls_last(), _x.seq).ddl_if(
        dialect="postgresql"
    )


_claim_index("ix_exec_claim", _x.status)
_claim_index("ix_exec_exp_claim", _x.experiment, _x.status)
# Heartbeat, reap and interrupt find running executions through ix_exec_claim (status first):
# running rows are few, so no further index is worth its cost on every status change.

exec_needs = Table(
    "exec_needs",
    metadata,
    Column("key", String, primary_key=True),
    Column("need_key", String, primary_key=True),
    Index("ix_exec_needs_need", "need_key"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String, primary_key=True),
    Column("experiment", String, nullable=False),
    Column("name", String, nullable=False),
    Column("params", Text, nullable=False),  # JSON object
    Column("folder", Text, nullable=False),
    Column("created", Float, nullable=False),
    Column("stage", String, nullable=False, server_default="sweep"),  # v2
    Column("origin", String),  # v2
    Column("tags", Text, nullable=False, server_default="[]"),  # v5: JSON list, sorted
    Column("note", Text, nullable=False, server_default=""),  # v5
    Index("ix_runs_experiment_name", "experiment", "name"),
)

run_steps = Table(
    "run_steps",
    metadata,
    Column("run_id", String, primary_key=True),
    Column("step", String, primary_key=True),
    Column("pos", Integer, nullable=False),
    Column("exec_key", String, nullable=False),
    Index("ix_run_steps_exec", "exec_key"),
)

workers = Table(
    "workers",
    metadata,
    Column("id", String, primary_key=True),
    Column("host", String, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("slots", Text, nullable=False),
    Column("started", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("lease_expires", Float, nullable=False),
)

metrics = Table(
    "metrics",
    metadata,
    Column("exec_key", String, nullable=False),
    Column("name", String, nullable=False),
    Column("step", BigInteger),
    Column("value", Float),  # NaN is stored as NULL by SQLite
    Column("time", Float, nullable=False),
    Index("ix_metrics_key_name", "exec_key", "name"),
)

metric_summary = Table(
    "metric_summary",
    metadata,
    Column("exec_key", String, primary_key=True),
    Column("name", String, primary_key=True),
    Column("last", Float),
    Column("last_step", BigInteger),
    Column("min", Float),
    Column("max", Float),
    Column("count", BigInteger, nullable=False),
    Column("updated", Float, nullable=False),
)

Migration = Callable[[Connection], None]

#: MIGRATIONS[i] upgrades a store from version i + 1 to version i + 2, inside the open transaction.
def _v1_to_v2(conn: Connection) -> None:
    """Step kinds, code hashes and code snapshots on executions; stages and origins on runs."""
    for ddl in (
        "ALTER TABLE executions ADD COLUMN kind VARCHAR NOT NULL DEFAULT 'command'",
        "ALTER TABLE executions ADD COLUMN code VARCHAR NOT NULL DEFAULT ''",
        "ALTER TABLE executions ADD COLUMN snapshot TEXT",
        "ALTER TABLE runs ADD COLUMN stage VARCHAR NOT NULL DEFAULT 'sweep'",
        "ALTER TABLE runs ADD COLUMN origin VARCHAR",
    ):
        conn.execute(text(ddl))


def _v2_to_v3(conn: Connection) -> None:
    """Lost attempts (their worker died) counted apart from failures: ``retries`` counts failures only."""
    if "lost" not in {c["name"] for c in inspect(conn).get_columns("executions")}:
        conn.execute(text("ALTER TABLE executions ADD COLUMN lost INTEGER NOT NULL DEFAULT 0"))


def _v3_to_v4(conn: Connection) -> None:
    """Steps packed on GPUs by the free memory they declare (``gpu_mem:``)."""
    if "gpu_mem" not in {c["name"] for c in inspect(conn).get_columns("executions")}:
        conn.execute(text("ALTER TABLE executions ADD COLUMN gpu_mem BIGINT"))


def _v4_to_v5(conn: Connection) -> None:
    """Tags and a note on runs (``runyard tag``, ``note``)."""
    have = {c["name"] for c in inspect(conn).get_columns("runs")}
    if "tags" not in have:
        conn.execute(text("ALTER TABLE runs ADD COLUMN tags TEXT NOT NULL DEFAULT '[]'"))
    if "note" not in have:
        conn.execute(text("ALTER TABLE runs ADD COLUMN note TEXT NOT NULL DEFAULT ''"))


MIGRATIONS: list[Migration] = [_v1_to_v2, _v2_to_v3, _v3_to_v4, _v4_to_v5]


def read_version(conn: Connection) -> int | None:
    """The schema version of the store behind ``conn``, or None for an empty database."""
    if not inspect(conn).has_table("meta"):
        return None
    value = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar_one_or_none()
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise StoreError(f"the store's schema_version {value!r} is not a number: not a runyard store?") from None


def create(conn: Connection) -> None:
    """Create every table and index of the current version and record the version."""
    metadata.create_all(conn, checkfirst=True)
    conn.execute(delete(meta).where(meta.c.key == "schema_version"))
    conn.execute(insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))


def migrate(
    conn: Connection,
    current: int,
    *,
    target: int | None = None,
    migrations: list[Migration] | None = None,
    where: str = "the store",
) -> int:
    """Bring a store at version ``current`` to ``target`` by running the migrations in order.

    Raises StoreError when the store is newer than this code (it must never be downgraded).
    Returns the version reached.
    """
    target = SCHEMA_VERSION if target is None else target
    steps = MIGRATIONS if migrations is None else migrations
    check_not_newer(current, target=target, where=where)
    if current < 1 or target - 1 > len(steps):
        raise StoreError(f"{where} has schema version {current}, which this runyard cannot migrate")
    for version in range(current, target):
        steps[version - 1](conn)
        conn.execute(update(meta).where(meta.c.key == "schema_version").values(value=str(version + 1)))
    return target
