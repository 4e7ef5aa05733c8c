"""``runyard rm`` and ``runyard gc``: what removing runs would delete (a dry run, with bytes), and deleting it.

Order, so that stopping at any point leaves a consistent home: (1) one store transaction deletes the runs,
their links and the executions nothing else links to (never one in use, never one another run links to);
(2) then each folder is renamed to ``.removing-<name>`` (atomic) and deleted. Stopped after (1), the
store no longer knows the folders: ``runyard gc`` finds them (folders the store does not know, and
``.removing-*`` leftovers) and deletes them; the store never points at a half-deleted folder.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from runyard.errors import UsageError
from runyard.layout import REMOVING, HomePaths, removing
from runyard.model import Status
from runyard.store.base import RunRecord, Store

IN_USE = (Status.RUNNING, Status.READY, Status.WAITING)
FAILED = (Status.FAILED, Status.INTERRUPTED, Status.CANCELLED)
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT = {"": 86400.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


@dataclass
class Removal:
    """What a removal deletes: runs, executions (key → folder) no remaining run links to, folders the
    store does not know (``gc``), and the runs refused because they are in use (with why)."""

    runs: list[RunRecord] = field(default_factory=list)
    executions: dict[str, str] = field(default_factory=dict)
    stray: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    bytes: int = 0
    done: bool = False

    @property
    def empty(self) -> bool:
        return not (self.runs or self.executions or self.stray)

    def summary(self) -> str:
        verb = "removed" if self.done else "would remove"
        parts = [f"{len(self.runs)} run(s)", f"{len(self.executions)} step execution(s)"]
        if self.stray:
            parts.append(f"{len(self.stray)} folder(s) the store does not know")
        return f"{verb} {', '.join(parts)}: {human_bytes(self.bytes)}"


def human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{count} B"


def parse_age(text: str) -> float:
    """``30d``, ``12h``, ``2w``, ``90m``, ``45s`` (a bare number: days) → seconds."""
    found = _AGE.match(text)
    if not found:
        raise UsageError(f"--older-than {text!r}: give a number and a unit s, m, h, d or w (e.g. 30d, 12h)")
    return float(found.group(1)) * _UNIT[found.group(2)]


def folder_bytes(path: str) -> int:
    """Bytes under ``path`` (links not followed; 0 when it is gone)."""
    total = 0
    for root, dirs, files in os.walk(path):
        for name in (*files, *dirs):
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def plan_rm(store: Store, runs: Sequence[RunRecord]) -> Removal:
    """What removing ``runs`` deletes; runs with a step in use are refused (listed, not removed)."""
    removal = Removal()
    chosen: dict[str, RunRecord] = {}
    for run in runs:
        busy = [f"{step} is {status}" for (step, _), status in zip(run.steps, run.statuses, strict=False)
                if status in IN_USE]
        if busy:
            removal.refused.append(f"{run.name} ({run.short}) of {run.experiment} is in use: {', '.join(busy)}; "
                                   "cancel it first (`runyard cancel`) or wait for it to end")
        else:
            chosen[run.id] = run
    removal.runs = list(chosen.values())
    for experiment in dict.fromkeys(r.experiment for r in removal.runs):
        kept = {key for r in store.runs(experiment) if r.id not in chosen for _, key in r.steps}
        keys = {key for r in removal.runs if r.experiment == experiment for _, key in r.steps} - kept
        for x in store.executions(experiment, keys=keys):
            if x.status not in IN_USE:
                removal.executions[x.key] = x.folder
    removal.bytes = sum(folder_bytes(f) for f in [*(r.folder for r in removal.runs), *removal.executions.values()])
    return removal


def plan_gc(store: Store, *, older_than: float | None = None, failed: bool = False, unlinked: bool = False,
            experiment: str | None = None, now: float | None = None) -> Removal:
    """What ``runyard gc`` deletes: runs older than ``older_than`` seconds and/or ``failed`` (both given:
    runs that are both), and with ``unlinked`` (or with neither criterion) what nothing refers to:
    executions no run links to, folders the store does not know, leftovers of an interrupted removal."""
    now = time.time() if now is None else now
    names = [experiment] if experiment is not None else store.experiments()
    if experiment is not None and experiment not in store.experiments():
        from runyard.analyze.table import choose_experiment

        choose_experiment(store, experiment)  # RunNotFound with suggestions
    runs: list[RunRecord] = []
    if older_than is not None or failed:
        for name in names:
            for run in store.runs(name):
                if older_than is not None and not (now - run.created > older_than and run.status.finished):
                    continue
                if failed and run.status not in FAILED:
                    continue
                runs.append(run)
    removal = plan_rm(store, runs)
    if unlinked or (older_than is None and not failed):
        for name in names:
            _add_unlinked(store, name, removal)
    return removal


def _add_unlinked(store: Store, experiment: str, removal: Removal) -> None:
    linked = {key for r in store.runs(experiment) for _, key in r.steps}
    executions = store.executions(experiment)
    for x in executions:
        if x.key not in linked and x.status not in IN_USE and x.key not in removal.executions:
            removal.executions[x.key] = x.folder
            removal.bytes += folder_bytes(x.folder)
    # known by their names under the experiment folder, never by whole paths (a home reached through a
    # symbolic link, or mounted elsewhere, must not make every folder look unknown)
    known = {_tail(x.folder, 2) for x in executions} | {_tail(r.folder, 1) for r in store.runs(experiment)}
    paths = HomePaths(store.experiment(experiment).home).experiment(experiment)
    for parent, depth in ((paths.runs, 1), *((step, 2) for step in _children(paths.steps))):
        for folder in _children(parent):
            if _tail(folder, depth) not in known and not os.path.islink(folder):
                removal.stray.append(folder)
                removal.bytes += folder_bytes(folder)


def _tail(folder: str, depth: int) -> tuple[str, ...]:
    """The last ``depth`` names of ``folder`` (``<step>/<key12>`` of an execution, ``<name>`` of a run)."""
    parts = os.path.normpath(folder).split(os.sep)
    return (str(depth), *parts[-depth:])


def _children(folder: str) -> list[str]:
    try:
        return sorted(entry.path for entry in os.scandir(folder) if entry.is_dir(follow_symlinks=False))
    except OSError:
        return []


def execute(store: Store, removal: Removal, *, after_store: Callable[[], None] | None = None) -> Removal:
    """Delete what ``removal`` lists: the store first (one transaction), then the folders. Returns what was
    removed (the store decides which executions go: one a run linked meanwhile stays)."""
    removed = store.remove_runs([r.id for r in removal.runs]) if removal.runs else None
    extra = [k for k in removal.executions if removed is None or k not in dict(removed.executions)]
    unlinked = store.remove_executions(extra) if extra else None
    if after_store is not None:
        after_store()
    gone = dict(removed.executions if removed else ())
    gone.update(unlinked.executions if unlinked else ())
    for folder in [*(r.folder for r in removal.runs), *gone.values(), *removal.stray]:
        delete_folder(folder)
    return Removal(removal.runs, gone, removal.stray, removal.refused, removal.bytes, done=True)


def delete_folder(folder: str) -> None:
    """Rename ``folder`` to ``.removing-<name>`` (atomic: never seen half deleted), then delete it."""
    if os.path.basename(os.path.normpath(folder)).startswith(REMOVING):
        target = folder
    else:
        target = removing(folder)
        try:
            os.rename(folder, target)
        except FileNotFoundError:
            return
    shutil.rmtree(target, ignore_errors=True)


def runs_to_remove(store: Store, runs: Sequence[str], *, where: str | None, experiment: str | None,
                   stage: str | None = "all") -> list[RunRecord]:
    """The runs ``rm`` names: id prefixes or names, or the runs of ``experiment`` matching ``where``."""
    if runs and where:
        raise UsageError("give runs or --where, not both")
    if not runs and not where:
        raise UsageError("name the runs to remove (id prefixes or names), or select them with --where EXPR")
    if runs:
        return list({r.id: r for r in (store.run(name, experiment) for name in runs)}.values())
    from runyard.analyze.table import choose_experiment
    from runyard.analyze.yard import RunSet, Yard

    name = choose_experiment(store, experiment)
    ids = set(RunSet(Yard(store), name, where, stage).results().frame.index)
    return [r for r in store.runs(name) if r.id in ids]
