"""Every path of a home, in one place: the only module that joins them. Pure: no I/O.

The folders stay readable without runyard (docs/architecture.md, "File layout")::

    <home>/                          a project's runyard data (``.runyard`` by default)
      runyard.db                     the SQLite store (unless --store names another)
      env/<sha256>.txt               a frozen package list, stored once
      code/<sha256>.diff|.pkl        an uncommitted diff, a pickled notebook function, stored once
      snapshots/<id>/  <id>.json     a copy of the code a sweep was submitted with, and its record
      workers/<experiment>-....log   the output of a detached worker
      <experiment>/
        experiment.json              the spec it was last submitted with (what `runyard reindex` reads)
        runs/<run name>/             run.json, labels.json (tags, note) and one link per step
        steps/<step>/<key12>/        one step execution:
          command  log  metrics.jsonl  meta.json  out/  runs.csv (an aggregate's run table)
          attempts/<N>/              log, metrics.jsonl, meta.json of each earlier attempt

A step's ``out/`` holds what it writes; a Python step's result is ``out/result<ext>`` with
``out/result.meta.json`` beside it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import overload

HOME_DIR = ".runyard"  # the home's folder name, found walking up from the current folder
STORE_FILE = "runyard.db"
ENV = "env"
CODE = "code"
SNAPSHOTS = "snapshots"
WORKERS = "workers"
RUNS = "runs"
STEPS = "steps"
RUN_RECORD = "run.json"
RUN_LABELS = "labels.json"  # a run's tags and note
EXPERIMENT_RECORD = "experiment.json"  # the spec an experiment was last submitted with
REMOVING = ".removing-"  # a folder being deleted is first renamed to this prefix + its name
COMMAND = "command"
LOG = "log"
METRICS = "metrics.jsonl"
META = "meta.json"
OUT = "out"
ATTEMPTS = "attempts"
RUNS_TABLE = "runs.csv"
PRUNE_FLAG = "prune"  # written when the tuner prunes the trial this step belongs to (runyard.should_prune)
RESULT = "result"  # a Python step's saved value: out/result<ext>
RESULT_META = "result.meta.json"
KEY_CHARS = 12  # of an execution key in its folder's name

MAX_FILE_NAME = 128  # bytes of one path component runyard writes (file systems allow 255)
_HASH = 12


def file_name(name: str) -> str:
    """``name`` as one path component: itself when short enough, else its start, ``-`` and 12 hex characters
    of its sha256 (deterministic, so the same name always gets the same folder)."""
    data = name.encode("utf-8", "surrogatepass")
    if len(data) <= MAX_FILE_NAME:
        return name
    digest = hashlib.sha256(data).hexdigest()[:_HASH]
    head = data[:MAX_FILE_NAME - _HASH - 1].decode("utf-8", "ignore")
    return f"{head}-{digest}"


class Under:
    """A path below the folder of the paths object it is read from (its ``folder``, or the ``root`` of a
    home): ``log = Under(LOG)`` reads as ``os.path.join(self.folder, LOG)``."""

    def __init__(self, *parts: str, base: str = "folder") -> None:
        self.parts = parts
        self.base = base

    @overload
    def __get__(self, obj: None, owner: type) -> Under: ...

    @overload
    def __get__(self, obj: object, owner: type) -> str: ...

    def __get__(self, obj: object, owner: type) -> Under | str:
        if obj is None:
            return self
        return os.path.join(getattr(obj, self.base), *self.parts)


@dataclass(frozen=True)
class AttemptPaths:
    """The files one attempt of a step execution has of its own: at the top of the execution folder for
    the latest attempt, under ``attempts/N/`` for each earlier one."""

    folder: str
    log = Under(LOG)
    metrics = Under(METRICS)
    meta = Under(META)

    @property
    def own_files(self) -> tuple[str, str, str]:
        """What moves to ``attempts/N/`` when the next attempt starts, in this order."""
        return (self.log, self.metrics, self.meta)


@dataclass(frozen=True)
class ExecutionPaths(AttemptPaths):
    """``<home>/<experiment>/steps/<step>/<key12>/``: one step execution."""

    command = Under(COMMAND)
    out = Under(OUT)
    runs_table = Under(RUNS_TABLE)  # the run table an aggregate step reads (``{runs}``, ``$RUNYARD_RUNS``)
    attempts = Under(ATTEMPTS)
    prune_flag = Under(PRUNE_FLAG)  # ``$RUNYARD_PRUNE``: its existence is what ``runyard.should_prune()`` reports

    def attempt(self, number: int) -> AttemptPaths:
        """Earlier attempt ``number`` (1 = the first that ran in this folder), under ``attempts/``."""
        return AttemptPaths(os.path.join(self.folder, ATTEMPTS, str(number)))

    @property
    def home(self) -> str:
        return os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.normpath(self.folder)))))


def relative_log(attempt: int | None) -> str:
    """The log of earlier attempt ``attempt`` relative to its execution folder (None: the latest's)."""
    return LOG if attempt is None else f"{ATTEMPTS}/{attempt}/{LOG}"


@dataclass(frozen=True)
class RunPaths:
    """``<home>/<experiment>/runs/<name>/``: ``run.json`` and one link per step."""

    folder: str
    record = Under(RUN_RECORD)
    labels = Under(RUN_LABELS)

    def step_link(self, step: str) -> str:
        return os.path.join(self.folder, file_name(step))


@dataclass(frozen=True)
class ExperimentPaths:
    """``<home>/<experiment>/``."""

    folder: str
    runs = Under(RUNS)
    steps = Under(STEPS)
    record = Under(EXPERIMENT_RECORD)

    def run(self, name: str) -> str:
        return os.path.join(self.folder, RUNS, name)

    def execution(self, step: str, key: str) -> str:
        return os.path.join(self.folder, STEPS, file_name(step), key[:KEY_CHARS])


@dataclass(frozen=True)
class SnapshotPaths:
    """``<home>/snapshots/<id>/`` (the copy of the code) and ``<id>.json`` beside it (its record)."""

    folder: str

    @property
    def id(self) -> str:
        return os.path.basename(self.folder)

    @property
    def record(self) -> str:
        return self.folder + ".json"


def snapshot_holding(path: str) -> SnapshotPaths | None:
    """The snapshot whose copy of the code holds ``path``, or None (from the path alone)."""
    current = os.path.normpath(path)
    while True:
        parent = os.path.dirname(current)
        if parent == current:
            return None
        if os.path.basename(parent) == SNAPSHOTS:
            return SnapshotPaths(current)
        current = parent


@dataclass(frozen=True)
class HomePaths:
    """``<home>/``: the store file, content-addressed files, snapshots, detached workers' output, experiments."""

    root: str
    store_file = Under(STORE_FILE, base="root")
    snapshots = Under(SNAPSHOTS, base="root")
    workers = Under(WORKERS, base="root")

    def experiment(self, name: str) -> ExperimentPaths:
        return ExperimentPaths(os.path.join(self.root, file_name(name)))

    def content_folder(self, kind: str) -> str:
        """``env`` or ``code``: files stored once, named by the sha256 of their content."""
        if kind not in (ENV, CODE):
            raise ValueError(f"no content folder {kind!r} in a home (only {ENV!r} and {CODE!r})")
        return os.path.join(self.root, kind)

    def content_file(self, kind: str, digest: str, suffix: str) -> str:
        return os.path.join(self.content_folder(kind), digest + suffix)

    def snapshot(self, snapshot_id: str) -> SnapshotPaths:
        return SnapshotPaths(os.path.join(self.root, SNAPSHOTS, snapshot_id))

    def worker_output(self, experiment: str, stamp: str, pid: int) -> str:
        """The output file of a worker detached at ``stamp`` by process ``pid`` for ``experiment``."""
        safe = file_name("".join(c if c.isalnum() or c in "-_." else "_" for c in experiment))
        return os.path.join(self.root, WORKERS, f"{safe}-{stamp}-{pid}.log")


def removing(folder: str) -> str:
    """Where ``folder`` is renamed before it is deleted: a sibling no reader takes for a run or an execution."""
    parent, name = os.path.split(os.path.normpath(folder))
    return os.path.join(parent, REMOVING + name)


def home_in(folder: str) -> str:
    """The home a project folder holds (``<folder>/.runyard``)."""
    return os.path.join(folder, HOME_DIR)


@dataclass(frozen=True)
class ResultPaths:
    """A Python step's saved result inside a folder (its ``out/``)."""

    folder: str
    meta = Under(RESULT_META)

    def value(self, ext: str) -> str:
        return os.path.join(self.folder, RESULT + ext)

    def staging(self, ext: str, pid: int) -> str:
        """Where the value is written before it is renamed into place."""
        return os.path.join(self.folder, f".{RESULT}-tmp{pid}{ext}")

    def named(self, name: str) -> str:
        """The value's file as its metadata names it."""
        return os.path.join(self.folder, name)


def set_aside(path: str, stamp: str) -> str:
    """Where a damaged file is moved before a new one replaces it (``runyard reindex``)."""
    return f"{path}.damaged-{stamp}"
