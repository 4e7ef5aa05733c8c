"""``runyard reindex``: rebuild the store from a home's folders, after its database was deleted or damaged.

Each experiment folder holds ``experiment.json`` (the spec it was last submitted with), ``runs/<name>/``
(``run.json``, ``labels.json``) and ``steps/<step>/<key12>/`` (``meta.json``, the log and the metrics
file of the last attempt, ``attempts/N/`` for earlier ones). The experiment, its runs and its step
executions are written back as they were recorded (:meth:`Store.restore`), then each finished
execution's metrics are extracted again from its files with the spec's ``metrics:`` rules, as the
worker did. A folder that cannot be read is reported and skipped; the others are recovered.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from runyard.execute.attempts import archived
from runyard.layout import REMOVING, ExecutionPaths, ExperimentPaths, HomePaths, RunPaths
from runyard.model import Status
from runyard.store.base import ExecRecord, ExperimentRecord, Restored, RunRecord, Store


@dataclass
class Reindexed:
    experiments: list[str] = field(default_factory=list)
    runs: int = 0
    executions: int = 0
    points: int = 0
    problems: list[str] = field(default_factory=list)  # folders skipped, with why


def _read(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def _folders(folder: str) -> list[str]:
    try:
        return sorted(e.path for e in os.scandir(folder)
                      if e.is_dir(follow_symlinks=False) and not e.name.startswith(REMOVING))
    except OSError:
        return []


def reindex(store: Store, home: str) -> Reindexed:
    """Write every experiment of ``home`` back into ``store``; returns what was recovered and what not."""
    result = Reindexed()
    for folder in _folders(home):
        paths = ExperimentPaths(folder)
        if not os.path.isfile(paths.record):
            if os.path.isdir(paths.runs) and os.path.isdir(paths.steps):  # an experiment without its record
                result.problems.append(f"{folder}: no {os.path.basename(paths.record)} (written by each submit "
                                       "since runyard records it); submit its spec once, then reindex again")
            continue  # env/, code/, snapshots/, workers/ or a folder of something else
        try:
            record = _read(paths.record)
            name = str(record["experiment"])
        except (OSError, ValueError, KeyError) as err:
            result.problems.append(f"{paths.record}: cannot be read ({err}); experiment skipped")
            continue
        if os.path.normpath(HomePaths(home).experiment(name).folder) != os.path.normpath(folder):
            continue
        _reindex_experiment(store, home, paths, record, result)
    return result


def _reindex_experiment(store: Store, home: str, paths: ExperimentPaths, record: Mapping[str, Any],
                        result: Reindexed) -> None:
    name = str(record["experiment"])
    created = float(record.get("created") or 0.0)
    experiment = ExperimentRecord(name, dict(record.get("spec") or {}), str(record.get("spec_path", "")),
                                  home, False, created, float(record.get("updated") or created))
    executions: dict[str, ExecRecord] = {}
    for step_folder in _folders(paths.steps):
        for folder in _folders(step_folder):
            try:
                found = _execution(folder, name)
            except (OSError, ValueError, KeyError, TypeError) as err:
                result.problems.append(f"{ExecutionPaths(folder).meta}: cannot be read ({err}); "
                                       "that step execution is skipped")
                continue
            executions[found.key] = found
    runs: list[RunRecord] = []
    for folder in _folders(paths.runs):
        try:
            run = _run(folder, name, created)
        except (OSError, ValueError, KeyError, TypeError) as err:
            result.problems.append(f"{RunPaths(folder).record}: cannot be read ({err}); that run is skipped")
            continue
        missing = [step for step, key in run.steps if key not in executions]
        if missing:
            result.problems.append(f"run {run.name}: the folder of its step(s) {', '.join(missing)} is missing or "
                                   "damaged; the run is skipped")
            continue
        runs.append(run)
    ordered = _topological(executions)
    store.restore(Restored(experiment, tuple(runs), tuple(ordered)))
    result.experiments.append(name)
    result.runs += len(runs)
    result.executions += len(ordered)
    result.points += _metrics(store, name, [x for x in ordered if x.status == Status.DONE], result)


def _execution(folder: str, experiment: str) -> ExecRecord:
    meta = _read(ExecutionPaths(folder).meta)
    status = Status(str(meta.get("unrecorded") or meta.get("status") or "failed"))
    if status in (Status.RUNNING, Status.READY, Status.WAITING):
        status = Status.INTERRUPTED  # nobody runs it now: the next submit queues it again
    started, ended = meta.get("started"), meta.get("ended")
    return ExecRecord(
        key=str(meta["key"]), experiment=experiment, step=str(meta["step"]), command=str(meta["command"]),
        needs=tuple(meta.get("needs") or ()), folder=os.path.normpath(folder), workdir=str(meta.get("workdir", "")),
        params=dict(meta.get("params") or {}), gpus=int(meta.get("gpus") or 0), timeout=meta.get("timeout"),
        retries=int(meta.get("retries") or 0), kind=str(meta.get("kind") or "command"),
        code=str(meta.get("code") or ""), snapshot=meta.get("snapshot"), status=status,
        attempts=len(archived(folder)) + 1, exit_code=meta.get("exit_code"), submitted=float(started or 0.0),
        started=started, ended=ended, duration=meta.get("duration"), error=meta.get("error"),
        worker_id=meta.get("worker"), host=meta.get("host"), provenance=meta.get("provenance"),
        command_env=meta.get("env") if isinstance(meta.get("env"), dict) else None,
    )


def _run(folder: str, experiment: str, default_created: float) -> RunRecord:
    data = _read(RunPaths(folder).record)
    try:
        labels = _read(RunPaths(folder).labels)
    except FileNotFoundError:
        labels = {}
    return RunRecord(
        id=str(data["id"]), experiment=experiment, name=str(data["name"]), params=dict(data["params"]),
        folder=os.path.normpath(folder), steps=tuple((str(s["name"]), str(s["key"])) for s in data["steps"]),
        created=float(data.get("created") or default_created), stage=str(data.get("stage") or "sweep"),
        origin=data.get("origin"), tags=tuple(sorted(labels.get("tags") or ())), note=str(labels.get("note") or ""),
    )


def _topological(executions: Mapping[str, ExecRecord]) -> list[ExecRecord]:
    """Every execution after the ones it needs (by start time among equals), as submission orders them."""
    done: dict[str, ExecRecord] = {}
    pending = sorted(executions.values(), key=lambda x: (x.started or 0.0, x.key))
    while pending:
        left = [x for x in pending if any(n in executions and n not in done for n in x.needs)]
        for x in pending:
            if x not in left:
                done[x.key] = x
        if len(left) == len(pending):  # a cycle cannot come from a plan; keep what is left as it is
            done.update((x.key, x) for x in left)
            break
        pending = left
    return list(done.values())


def _metrics(store: Store, experiment: str, finished: list[ExecRecord], result: Reindexed) -> int:
    """Extract the metrics of ``finished`` executions again from their files, with the stored spec's rules."""
    from runyard.app.reparse import read_offsets
    from runyard.app.stored import load_stored_spec
    from runyard.errors import RunyardError
    from runyard.execute.ingest import replay

    try:
        spec = load_stored_spec(store, experiment).spec
    except RunyardError as err:
        result.problems.append(f"experiment {experiment}: its spec cannot be rebuilt ({err}); metrics from "
                               "metrics files only")
        specs: list[Any] = []
        folder = None
    else:
        specs, folder = list(spec.metrics), spec.folder
    points = 0
    for x in finished:
        where = read_offsets(x)
        stored, problems, _ = replay(store, x, specs, log_offset=where.get("log", 0),
                                     metrics_offset=where.get("metrics", 0), spec_folder=folder)
        points += stored
        result.problems += [f"{x.step} {x.short}: {p}" for p in problems]
    return points


@contextmanager
def open_for_reindex(home: str | None, store_url: str | None,
                     report: Callable[[str], None]) -> Iterator[tuple[Store, str]]:
    """The store to rebuild and the home it rebuilds from. A SQLite store that cannot be opened (not a
    database, damaged) is moved aside (``runyard.db.damaged-<time>``) and a new one created."""
    import time

    from runyard.errors import RunNotFound, StoreError
    from runyard.home import resolve_home, resolve_store_url
    from runyard.layout import set_aside
    from runyard.store import open_store
    from runyard.store.checks import sqlite_file

    root = str(resolve_home(home))
    if not os.path.isdir(root):
        raise RunNotFound(f"no runyard home at {root}: point --home at the folder that holds the experiments")
    url = resolve_store_url(store_url, resolve_home(home))
    try:
        store = open_store(url)
    except StoreError as err:
        file = sqlite_file(url)
        if file is None or not os.path.exists(file):
            raise
        moved = set_aside(str(file), time.strftime("%Y%m%d-%H%M%S"))
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(str(file) + suffix):
                os.replace(str(file) + suffix, moved + suffix)
        report(f"the store {file} cannot be opened ({err}): moved to {moved}; a new store is built")
        store = open_store(url)
    with store:
        yield store, root
