"""The records a store returns (plain frozen dataclasses) and the wake-up channel protocol.

Imports nothing heavy: every layer may use them for type hints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol

from runyard.model import Status, StepExec


@dataclass(frozen=True)
class ExecRecord(StepExec):
    """A step execution as the store holds it: the :class:`StepExec` plus its scheduling state.

    ``attempts`` counts launches (claims) since the execution was last (re)submitted, ``lost`` those of
    them whose worker died (crash, kill, expired lease): ``attempts - lost`` are the ones that ran to
    an end, which ``retries`` bounds; ``seq`` is the
    submission order; ``started``/``ended``/``lease_expires`` are epoch seconds; ``duration`` is
    ``ended - started`` of the last finished attempt. ``worker_id``, ``host``, ``pid`` and ``pgid``
    describe the latest attempt (they are kept after it ends, for diagnosis).
    """

    status: Status = Status.WAITING
    attempts: int = 0
    lost: int = 0
    priority: int = 0
    seq: int = 0
    worker_id: str | None = None
    host: str | None = None
    pid: int | None = None
    pgid: int | None = None
    exit_code: int | None = None
    submitted: float = 0.0
    started: float | None = None
    ended: float | None = None
    duration: float | None = None
    lease_expires: float | None = None
    est_duration: float | None = None
    error: str | None = None
    provenance: Mapping[str, Any] | None = None
    command_env: Mapping[str, str] | None = None

    def to_step_exec(self) -> StepExec:
        """The plain :class:`StepExec` (what the spec rendered), without scheduling state."""
        return StepExec(**{f.name: getattr(self, f.name) for f in fields(StepExec)})


#: Precedence used to derive a run's status from its executions (first present wins; ``done``
#: only when every execution is done).
RUN_STATUS_ORDER = (
    Status.RUNNING,
    Status.FAILED,
    Status.INTERRUPTED,
    Status.CANCELLED,
    Status.READY,
    Status.WAITING,
    Status.DONE,
)

#: Rank of each status when deriving a run's status in bulk (the highest present wins): the reverse of
#: RUN_STATUS_ORDER, from 1 (done) to 7 (running).
STATUS_RANK = {status.value: len(RUN_STATUS_ORDER) - i for i, status in enumerate(RUN_STATUS_ORDER)}
#: rank → status value; 0 (a run without executions) and 2 are waiting.
RANK_STATUS = [Status.WAITING.value] + [s for s, _ in sorted(STATUS_RANK.items(), key=lambda item: item[1])]
MISSING_RANK = STATUS_RANK[Status.WAITING.value]  # an execution the store does not hold


def derive_run_status(statuses: Iterable[Status]) -> Status:
    present = set(statuses)
    for status in RUN_STATUS_ORDER:
        if status in present:
            return status
    return Status.WAITING  # a run whose executions are not in the store (should not happen)


@dataclass(frozen=True)
class RunRecord:
    """A run as stored. ``steps`` maps step name → execution key (in step order); ``statuses`` holds
    the current status of each of those executions, in the same order."""

    id: str
    experiment: str
    name: str
    params: Mapping[str, Any]
    folder: str
    steps: tuple[tuple[str, str], ...]
    created: float
    statuses: tuple[Status, ...] = ()
    stage: str = "sweep"
    origin: str | None = None
    tags: tuple[str, ...] = ()  # sorted
    note: str = ""

    @property
    def short(self) -> str:
        return self.id[:12]

    @property
    def status(self) -> Status:
        return derive_run_status(self.statuses)


@dataclass(frozen=True)
class Removed:
    """What :meth:`Store.remove_runs` / :meth:`Store.remove_executions` deleted: run ids and the
    execution keys no run links to any more (with their folders, for the caller to delete)."""

    runs: tuple[str, ...] = ()
    executions: tuple[tuple[str, str], ...] = ()  # (key, folder)


@dataclass(frozen=True)
class Restored:
    """What :meth:`Store.restore` writes back (``runyard reindex``): an experiment, its runs and their
    executions, as their folders recorded them. ``runs`` hold ``created``, ``stage``, ``origin``,
    ``tags`` and ``note``; ``executions`` their status and timings."""

    experiment: ExperimentRecord
    runs: tuple[RunRecord, ...]
    executions: tuple[ExecRecord, ...]


@dataclass(frozen=True)
class SubmitResult:
    """What :meth:`Store.submit` did, by execution key (each key in exactly one tuple)."""

    experiment: str
    added: tuple[str, ...] = ()
    cached: tuple[str, ...] = ()
    requeued: tuple[str, ...] = ()
    forced: tuple[str, ...] = ()
    already_queued: tuple[str, ...] = ()
    runs_added: int = 0
    runs_total: int = 0

    @property
    def queued(self) -> int:
        """Executions that will run (newly added, requeued or forced)."""
        return len(self.added) + len(self.requeued) + len(self.forced)

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "cached": len(self.cached),
            "requeued": len(self.requeued),
            "forced": len(self.forced),
            "already_queued": len(self.already_queued),
            "runs_added": self.runs_added,
        }


@dataclass(frozen=True)
class WorkerRecord:
    """A registered worker. ``running`` holds the keys it currently runs."""

    id: str
    host: str
    pid: int
    slots: str
    started: float
    last_seen: float
    lease_expires: float
    running: tuple[str, ...] = ()

    def alive(self, now: float) -> bool:
        return self.lease_expires >= now


@dataclass(frozen=True)
class ExperimentRecord:
    name: str
    spec: Mapping[str, Any]
    spec_path: str
    home: str
    paused: bool
    created: float
    updated: float


@dataclass(frozen=True)
class MetricSummary:
    """Summary of one metric of one execution."""

    last: float | None
    last_step: int | None
    min: float | None
    max: float | None
    count: int
    updated: float


@dataclass(frozen=True)
class ResultTables:
    """The results of one experiment in bulk, column-wise: what :meth:`Store.results` returns.

    Every column is a sequence (a list or a numpy array) of the same length within its table.

    ``runs`` has one entry per run, in no particular order: ``id``, ``name``, ``params`` (one dict
    each, or a pandas DataFrame with one row per run and one column per param, NaN where a run
    lacks it), ``created`` (epoch seconds), ``stage`` (``sweep``, ``final`` or ``aggregate``),
    ``origin`` (the id of the run a final run was selected from, else None), ``status`` (a
    :class:`Status` value, derived as :attr:`RunRecord.status`), ``started`` (earliest start of its
    executions), ``ended`` (latest end) and ``duration`` (sum of ``ended - started`` over its
    executions that have both); a time nobody recorded is None or NaN.

    ``summaries`` has one entry per (run, step, metric): ``run`` (the position of the run in
    ``runs``), ``step`` (the run's step whose execution reported it), ``name``, then the requested
    statistics among ``last``, ``min``, ``max``, ``count`` and ``last_step`` (missing: None or NaN).
    """

    runs: Mapping[str, Sequence[Any]]
    summaries: Mapping[str, Sequence[Any]]


#: Statistics of a metric summary that :meth:`Store.results` can return.
SUMMARY_STATS = ("last", "min", "max", "count", "last_step")


#: One row of the metrics table: (execution key, name, step or None, value (None: NaN), time (None: now)).
MetricRow = tuple[str, str, int | None, float | None, float | None]


@dataclass(frozen=True)
class Reaped:
    """An execution taken back from a worker: its key, the status it got (ready or failed) and the
    process it had (``pgid``/``pid``/``host``, or None if it was never launched)."""

    key: str
    status: Status
    worker_id: str | None
    host: str | None
    pid: int | None
    pgid: int | None


@dataclass(frozen=True)
class Cancelled:
    """What a cancel did: every execution it cancelled, and which of them were running (their
    workers terminate them when they next check, within seconds)."""

    keys: tuple[str, ...]
    running: tuple[str, ...]


class Listener(Protocol):
    """A wake-up channel: ``fileno`` waits in a selector; ``drain`` returns what arrived (never
    blocks); a broken link makes ``alive`` False until ``reconnect`` succeeds."""

    @property
    def alive(self) -> bool: ...
    def fileno(self) -> int: ...
    def drain(self) -> list[str]: ...
    def reconnect(self) -> bool: ...
    def close(self) -> None: ...
