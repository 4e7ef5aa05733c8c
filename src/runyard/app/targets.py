"""What a command line names: a run (by name, id or id prefix) or a step execution (by key or key
prefix), and how the terminal names a step execution: its step and its run, the key only as a suffix."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from runyard.errors import RunNotFound
from runyard.store.base import ExecRecord, RunRecord
from runyard.store.roles import ResultsReader

_HEX = re.compile(r"[0-9a-fA-F]+")


@dataclass(frozen=True)
class Target:
    """A run, and the step execution that was named when a key (prefix) was given (else None)."""

    run: RunRecord
    execution: ExecRecord | None = None
    runs: tuple[RunRecord, ...] = ()  # every run holding ``execution`` (the run above first)

    @property
    def step(self) -> str | None:
        return None if self.execution is None else self.execution.step


def exec_label(step: str, run_names: Sequence[str], key: str) -> str:
    """``train lr=0.1,seed=2 (3f2a1b2c4d5e)``; a step shared by several runs names the first and how many
    more (``train lr=0.1 +2 runs (…)``); one no run holds is named by its step and key alone."""
    if not run_names:
        return f"{step} ({key[:12]})"
    more = f" +{len(run_names) - 1} run{'s' if len(run_names) > 2 else ''}" if len(run_names) > 1 else ""
    return f"{step} {run_names[0]}{more} ({key[:12]})"


class NamedRun(Protocol):
    """A run of a plan (``model.Run``) or of a store (``RunRecord``): its name and its (step, key) pairs."""

    @property
    def name(self) -> str: ...

    @property
    def steps(self) -> tuple[tuple[str, str], ...]: ...


def runs_by_key(runs: Iterable[NamedRun]) -> dict[str, list[str]]:
    """Execution key → the names of the runs holding it, in run order (runs of a plan or of a store)."""
    found: dict[str, list[str]] = {}
    for run in runs:
        for _, key in run.steps:
            found.setdefault(key, []).append(run.name)
    return found


def labels_for(store: ResultsReader, records: Sequence[ExecRecord]) -> dict[str, str]:
    """Each record's label (:func:`exec_label`), reading the runs of their experiments once each."""
    names: dict[str, list[str]] = {}
    for experiment in dict.fromkeys(r.experiment for r in records):
        names.update(runs_by_key(store.runs(experiment)))
    return {r.key: exec_label(r.step, names.get(r.key, []), r.key) for r in records}


def resolve(store: ResultsReader, target: str, experiment: str | None = None) -> Target:
    """The run named by ``target``: a run name, a run id or unique id prefix, or a step execution's key or
    unique key prefix (then the run holding it). Unknown or ambiguous: RunNotFound listing the candidates."""
    wanted = target.strip()
    run: RunRecord | None = None
    run_problem = ""
    try:
        run = store.run(wanted, experiment)
    except RunNotFound as err:
        run_problem = str(err)
    if run is not None and run.name == wanted:
        return Target(run)  # a name is exact: it wins over any key prefix
    executions = _executions(store, wanted, experiment)
    if run is not None and not executions:
        return Target(run)
    if run is not None or len(executions) > 1:
        candidates = ([f"run {run.name} ({run.short})"] if run is not None else []) + [
            f"step execution {ex.step} ({ex.key[:12]})" for ex in executions[:8]]
        raise RunNotFound(f"{wanted!r} is ambiguous: it matches {', '.join(candidates)}; give more characters")
    if not executions:
        hint = "" if _HEX.fullmatch(wanted) else " (a run name, a run id or a step execution's key)"
        raise RunNotFound(f"{run_problem}; nor is it the key of a step execution{hint}")
    execution = executions[0]
    holders = [r for r in store.runs(execution.experiment) if any(k == execution.key for _, k in r.steps)]
    if not holders:
        raise RunNotFound(f"step execution {execution.step} ({execution.key[:12]}) belongs to no run of "
                          f"{execution.experiment}")
    return Target(holders[0], execution, tuple(holders))


def _executions(store: ResultsReader, wanted: str, experiment: str | None) -> list[ExecRecord]:
    """The step executions whose key starts with ``wanted`` (of ``experiment`` when given)."""
    if not _HEX.fullmatch(wanted):
        return []
    try:
        found = [store.execution(wanted)]
    except RunNotFound as err:
        if "ambiguous" not in str(err):
            return []
        prefix = wanted.lower()
        found = [ex for ex in store.executions(experiment) if ex.key.startswith(prefix)]
    return [ex for ex in found if experiment is None or ex.experiment == experiment]

