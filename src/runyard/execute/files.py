"""The folders under home, readable without runyard (DESIGN §2, §6).

``<home>/<experiment>/steps/<step>/<key12>/``: ``command``, ``log``, ``meta.json``, ``out/``.
``<home>/<experiment>/runs/<name>/``: ``run.json`` and one link per step to its execution folder.
``<home>/env/<sha256>.txt``: a frozen package list, stored once. ``<home>/code/<sha256>.diff``: a diff.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runyard.model import Plan, StepExec


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write a file so that a reader (or a crash) never sees half of it."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def write_json(path: str | os.PathLike[str], data: Mapping[str, Any]) -> None:
    write_atomic(path, json.dumps(data, indent=2, default=str, sort_keys=False) + "\n")


def log_path(ex: StepExec) -> str:
    return os.path.join(ex.folder, "log")


def metrics_path(ex: StepExec) -> str:
    return os.path.join(ex.folder, "metrics.jsonl")


def prepare_execution(ex: StepExec) -> None:
    """Create the execution folder with ``out/`` and the exact ``command`` it runs."""
    os.makedirs(os.path.join(ex.folder, "out"), exist_ok=True)
    write_atomic(os.path.join(ex.folder, "command"), ex.command + "\n")


def write_meta(ex: StepExec, **state: Any) -> None:
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
        **state,
    }
    write_json(os.path.join(ex.folder, "meta.json"), meta)


def write_run_folders(plan: Plan) -> None:
    """``run.json`` and step links for every run of the plan; files already up to date are left alone."""
    by_key = {ex.key: ex for ex in plan.executions}
    for run in plan.runs:
        folder = Path(run.folder)
        folder.mkdir(parents=True, exist_ok=True)
        content = json.dumps({
            "id": run.id, "experiment": run.experiment, "name": run.name, "params": dict(run.params),
            "steps": [{"name": step, "key": key, "folder": by_key[key].folder} for step, key in run.steps],
        }, indent=2, default=str) + "\n"
        target = folder / "run.json"
        try:
            unchanged = target.read_text(encoding="utf-8") == content
        except OSError:
            unchanged = False
        if not unchanged:
            write_atomic(target, content)
        for step, key in run.steps:
            link = folder / step
            relative = os.path.relpath(by_key[key].folder, folder)
            if os.path.islink(link):
                if os.readlink(link) == relative:
                    continue
            elif os.path.lexists(link):
                continue  # a file or folder a step wrote into {run} under this name: never replace it
            replace_link(relative, link)


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
    folder = os.path.join(home, kind)
    path = os.path.join(folder, digest + suffix)
    if not os.path.exists(path):
        os.makedirs(folder, exist_ok=True)
        write_atomic(path, text)
    return path
