"""Plain data shared by every layer: frozen dataclasses and enums. Imports nothing local."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

ParamValue = str | int | float | bool | None
Params = Mapping[str, ParamValue]


class Status(str, enum.Enum):
    """Life cycle of a step execution.

    waiting → ready → running → done | failed | interrupted | cancelled.
    ``waiting``: some upstream execution is not done yet.  ``running``: claimed by a worker,
    covered by a lease that the worker's heartbeat renews.
    """

    WAITING = "waiting"
    READY = "ready"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (Status.DONE, Status.FAILED, Status.INTERRUPTED, Status.CANCELLED)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Resources:
    """What one step execution needs from a slot: ``gpus`` GPUs, and with ``gpu_mem`` (bytes) that much
    free memory on each of them, packed by measured memory instead of a share of ``per_gpu``."""

    gpus: int = 0
    gpu_mem: int | None = None


@dataclass(frozen=True)
class StepExec:
    """A step rendered for concrete params: the unit of scheduling, caching and recording.

    ``key`` is the full hex sha256 content hash (DESIGN §3); ``folder`` the absolute execution
    folder (``<home>/<experiment>/steps/<step>/<key12>``); ``needs`` the keys of upstream executions.
    ``params`` holds exactly the params the step references (the ones in its key).
    """

    key: str
    experiment: str
    step: str
    command: str
    needs: tuple[str, ...]
    folder: str
    workdir: str
    params: Params = field(default_factory=dict)
    gpus: int = 0
    timeout: float | None = None
    retries: int = 0
    kind: str = "command"  # "command" (a shell template), "call" (a Python callable), "aggregate"
    code: str = ""  # content hash of the step's code (deps: files, a callable's module source); "" when none
    snapshot: str | None = None  # a code snapshot folder the step runs from instead of its workdir's checkout
    gpu_mem: int | None = None  # bytes of free memory the step needs on each of its GPUs (``gpu_mem:``)

    @property
    def short(self) -> str:
        return self.key[:12]

    @property
    def resources(self) -> Resources:
        return Resources(gpus=self.gpus, gpu_mem=self.gpu_mem)


@dataclass(frozen=True)
class Run:
    """One param assignment of an experiment. ``steps`` maps step name → execution key, in step order."""

    id: str
    experiment: str
    name: str
    params: Params
    steps: tuple[tuple[str, str], ...]
    folder: str
    stage: str = "sweep"  # "sweep", or "final" for a run re-run from a selected one
    origin: str | None = None  # the id of the run a final run was selected from

    @property
    def short(self) -> str:
        return self.id[:12]


@dataclass(frozen=True)
class Plan:
    """The pure result of expanding a spec: runs and their (deduplicated) step executions.

    ``executions`` is in a topological order (every execution after the ones it needs).
    ``spec`` is the validated spec as plain JSON-able data, kept so a store can re-plan later.
    """

    experiment: str
    home: str
    spec_path: str
    runs: tuple[Run, ...]
    executions: tuple[StepExec, ...]
    defaults: Params = field(default_factory=dict)
    spec: Mapping[str, object] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def execution(self, key: str) -> StepExec:
        for ex in self.executions:
            if ex.key == key:
                return ex
        raise KeyError(key)


@dataclass(frozen=True)
class Metric:
    """One metric point. ``step`` is the training step / epoch when the program gave one."""

    name: str
    value: float
    step: int | None = None
    time: float | None = None


@dataclass(frozen=True)
class WorkerInfo:
    id: str
    host: str
    pid: int
    slots: str = ""
    started: float = 0.0
