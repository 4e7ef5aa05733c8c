"""Writing the folders under home, readable without runyard (DESIGN §2, §6); where each file lives is
:mod:`runyard.layout`'s."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runyard.execute import attempts
from runyard.execute.diskspace import writing
from runyard.layout import ExecutionPaths, HomePaths, RunPaths
from runyard.model import Plan, Run, StepExec
from runyard.store.records import ExecRecord


def write_atomic(path: str | os.PathLike[str], text: str, *, new: bool = False) -> None:
    """Write a file so that a reader (or a crash) never sees half of it.

    ``new``: the file is most likely absent, so create it directly (``O_EXCL``) and fall back to a
    temporary file and a rename only when it exists. Every inode created and freed per step execution
    costs: on a busy ext4 file system allocating inodes next to many recently freed ones dominated the
    worker's CPU time. Out of space: :class:`~runyard.errors.DiskFull` naming ``path``."""
    with writing(path):
        _write_atomic(path, text, new=new)


def _write_atomic(path: str | os.PathLike[str], text: str, *, new: bool) -> None:
    if new:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            pass
        else:
            _write_all(fd, text)
            return
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        _write_all(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644), text)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.replace(tmp, path)


def write_file(path: str | os.PathLike[str], text: str) -> None:
    """Create or truncate ``path`` and write ``text``: plain system calls (this runs for every step)."""
    with writing(path):
        _write_all(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644), text)


def _write_all(fd: int, text: str) -> None:
    data = memoryview(text.encode("utf-8"))
    try:
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)


def write_json(path: str | os.PathLike[str], data: Mapping[str, Any], *, new: bool = False, levels: int = 2) -> None:
    write_atomic(path, readable_json(data, levels=levels) + "\n", new=new)


def readable_json(value: Any, *, levels: int = 2, pad: str = "") -> str:
    """JSON with one key per line for the first ``levels`` levels of objects, compact below.

    As readable as ``indent=2`` for meta.json and run.json, and several times faster: ``indent`` makes the
    json module fall back from its C encoder to pure Python, which cost ~2 ms per step execution."""
    if levels and isinstance(value, Mapping) and value:
        inner = pad + "  "
        items = ",\n".join(f"{inner}{_encode(str(k))}: {readable_json(v, levels=levels - 1, pad=inner)}"
                           for k, v in value.items())
        return "{\n" + items + "\n" + pad + "}"
    return _encode(value)


# one encoder for every value: json.dumps(default=...) builds a new encoder per call, which cost more
# than the encoding of a meta.json itself
_encode = json.JSONEncoder(default=str).encode


def log_path(ex: StepExec) -> str:
    return ExecutionPaths(ex.folder).log


def metrics_path(ex: StepExec) -> str:
    return ExecutionPaths(ex.folder).metrics


def prepare_execution(ex: StepExec) -> None:
    """Create the execution folder with ``out/`` and the exact ``command`` it runs."""
    paths = ExecutionPaths(ex.folder)
    out = paths.out
    with writing(ex.folder):
        try:
            os.mkdir(ex.folder)
            os.mkdir(out)
        except (FileExistsError, FileNotFoundError):  # a retry or re-run; or the first execution of this step
            os.makedirs(out, exist_ok=True)
    write_file(paths.command, ex.command + "\n")


def write_meta(ex: StepExec, *, new: bool = False, **state: Any) -> None:
    """``meta.json``: what ran (params, command, needs) and how it went (status, exit code, timings ...)."""
    meta = {
        "key": ex.key,
        "experiment": ex.experiment,
        "step": ex.step,
        "params": dict(ex.params),
        "command": ex.command,
        "workdir": ex.workdir,
        "needs": list(ex.needs),
        "gpus": ex.gpus,
        "timeout": ex.timeout,
        "retries": ex.retries,
        "kind": ex.kind,
        "code": ex.code,
        "snapshot": ex.snapshot,
        **state,
        "attempts": attempts.listing(ex.folder),  # this attempt last; earlier ones under attempts/N/
    }
    write_json(ExecutionPaths(ex.folder).meta, meta, new=new, levels=1)


def write_run_folders(plan: Plan) -> None:
    """``experiment.json``, and ``run.json`` and step links for every run of the plan; files already up
    to date are left alone. A run's ``created`` is the time its ``run.json`` was first written (one
    value for every run of a submission, as the store's)."""
    by_key = {ex.key: ex for ex in plan.executions}
    now = round(time.time(), 6)
    _write_experiment_record(plan, now)
    for run in plan.runs:
        with writing(run.folder):
            _write_run_folder(run, by_key, now)


def _write_experiment_record(plan: Plan, now: float) -> None:
    """``<home>/<experiment>/experiment.json``: the spec and where it came from (``runyard reindex``)."""
    target = HomePaths(plan.home).experiment(plan.experiment).record
    record = {"experiment": plan.experiment, "spec_path": plan.spec_path, "home": plan.home, "spec": dict(plan.spec)}
    try:
        with open(target, encoding="utf-8") as handle:
            old = json.load(handle)
        if {k: old.get(k) for k in record} == json.loads(json.dumps(record, default=str)):
            return
        created = old.get("created", now)
    except (OSError, ValueError, AttributeError):
        created = now
    with writing(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
    write_json(target, {**record, "created": created, "updated": now}, levels=1)


def _write_run_folder(run: Run, by_key: Mapping[str, StepExec], now: float) -> None:
    paths = RunPaths(run.folder)
    os.makedirs(run.folder, exist_ok=True)
    target = paths.record
    try:
        old = Path(target).read_text(encoding="utf-8")
    except OSError:
        old = None
    created = now
    if old is not None:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            created = float(json.loads(old).get("created", now))
    content = readable_json({
        "id": run.id, "experiment": run.experiment, "name": run.name, "params": dict(run.params),
        "steps": [{"name": step, "key": key, "folder": by_key[key].folder} for step, key in run.steps],
        "stage": run.stage, "origin": run.origin, "created": created,
    }) + "\n"
    if old != content:
        write_atomic(target, content, new=True)
    for step, key in run.steps:
        link = paths.step_link(step)
        relative = os.path.relpath(by_key[key].folder, run.folder)
        try:
            os.symlink(relative, link)
            continue
        except FileExistsError:
            pass
        if os.path.islink(link):
            if os.readlink(link) == relative:
                continue
        elif os.path.lexists(link):
            continue  # a file or folder a step wrote into {run} under this name: never replace it
        replace_link(relative, link)


def write_labels(folder: str, tags: Sequence[str], note: str) -> None:
    """A run's ``labels.json`` (its tags and note, for ``runyard reindex``); removed when it has neither."""
    path = RunPaths(folder).labels
    if not tags and not note:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    if os.path.isdir(folder):
        write_json(path, {"tags": list(tags), "note": note})


def replace_link(target: str, link: str | os.PathLike[str]) -> None:
    """Point ``link`` at ``target`` atomically: two ``runyard run`` of one spec may write it at once."""
    tmp = f"{link}.tmp{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def store_once(home: str, kind: str, text: str, suffix: str) -> str:
    """Save ``text`` under ``<home>/<kind>/<sha256><suffix>`` unless already there; return the path."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    folder = HomePaths(home).content_folder(kind)
    path = HomePaths(home).content_file(kind, digest, suffix)
    if not os.path.exists(path):
        with writing(folder):
            os.makedirs(folder, exist_ok=True)
        write_atomic(path, text)
    return path


# `python` in a step means the interpreter runyard runs under (its virtual environment first on PATH)
STEP_PATH = os.pathsep.join(dict.fromkeys([os.path.dirname(sys.executable),
                                           *os.environ.get("PATH", "").split(os.pathsep)]))


def step_env(ex: ExecRecord, slot_env: Mapping[str, str], *, worker_id: str, now: float) -> dict[str, str]:
    """What a step's environment gets on top of the worker's: its slot (``CUDA_VISIBLE_DEVICES``) and
    the ``RUNYARD_*`` variables (docs/running.md)."""
    return {
        **slot_env,
        "RUNYARD_KEY": ex.key,
        "RUNYARD_EXPERIMENT": ex.experiment,
        "RUNYARD_STEP": ex.step,
        "RUNYARD_FOLDER": ex.folder,
        "RUNYARD_OUT": ExecutionPaths(ex.folder).out,
        "RUNYARD_METRICS": metrics_path(ex),
        "RUNYARD_ATTEMPT": str(ex.attempts),
        "RUNYARD_TIME": time.strftime("%Y%m%d-%H%M%S", time.localtime(now)),
        "RUNYARD_WORKER": worker_id,
        "PATH": STEP_PATH,
    }
