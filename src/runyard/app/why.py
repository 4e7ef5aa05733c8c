"""Why each execution of a plan would run, or why it is cached: the plan compared with the store.

Reasons (``Reason.kind``):

- ``cached``: done, and its folder is there (a run skips it);
- ``new``: never run: no earlier execution of this step for this run;
- ``params changed``: this run's (same name) or a same-params earlier execution of the step had other
  values for the params it uses;
- ``code changed``: same params, but the step's code hash (``deps:`` files, a callable's source) differs;
- ``upstream changed``: same params and code, but an execution it needs is a new one;
- ``command changed``: same params, code and upstream, but its template (or workdir) changed;
- ``failed before`` / ``interrupted before`` / ``cancelled before``: this very execution did not finish
  (with its exit code or error);
- ``folder gone``: done, but its folder was deleted (it runs again);
- ``queued``: waiting, ready or running already (a worker has it).

``kind`` is one of these words; ``detail`` says what changed (``lr 0.1 → 0.2``, ``train``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from runyard.layout import ExecutionPaths
from runyard.model import Plan, StepExec
from runyard.spec.keys import canonical_json
from runyard.spec.render import value_text
from runyard.spec.types import Spec
from runyard.store.readonly import Past, PastExecution

RUNS_AGAIN = ("new", "params changed", "code changed", "upstream changed", "command changed", "failed before",
              "interrupted before", "cancelled before", "folder gone")
KINDS = ("cached", "queued", *RUNS_AGAIN)


@dataclass(frozen=True)
class Reason:
    kind: str
    detail: str = ""
    previous: str | None = None  # the key of the earlier execution it was compared with

    @property
    def runs(self) -> bool:
        return self.kind in RUNS_AGAIN

    def text(self) -> str:
        return f"{self.kind}: {self.detail}" if self.detail else self.kind


def explain(plan: Plan, past: Past, *, folder_exists: Callable[[str], bool] = os.path.isdir) -> dict[str, Reason]:
    """The reason of every execution of ``plan`` (by key)."""
    by_key = {ex.key: ex for ex in plan.executions}
    runs_of: dict[str, list[tuple[str, str, str]]] = {}  # key → (run id, run name, step) holding it
    for run in plan.runs:
        for step, key in run.steps:
            runs_of.setdefault(key, []).append((run.id, run.name, step))
    same_params: dict[tuple[str, str], list[PastExecution]] = {}
    for old in past.executions.values():
        same_params.setdefault((old.step, canonical_json(old.params)), []).append(old)
    reasons: dict[str, Reason] = {}
    for ex in plan.executions:
        stored = past.executions.get(ex.key)
        if stored is not None:
            reasons[ex.key] = _of_stored(stored, folder_exists)
            continue
        previous = _previous(ex, runs_of.get(ex.key, []), past, same_params)
        reasons[ex.key] = Reason("new") if previous is None else _changed(ex, previous, by_key)
    return reasons


def _of_stored(stored: PastExecution, folder_exists: Callable[[str], bool]) -> Reason:
    if stored.status == "done":
        return Reason("cached") if folder_exists(stored.folder) else Reason("folder gone", stored.folder)
    if stored.status in ("failed", "interrupted", "cancelled"):
        detail = f"exit {stored.exit_code}" if stored.exit_code is not None else ""
        if stored.error and stored.error != f"exit code {stored.exit_code}":
            detail = f"{detail}, {stored.error}" if detail else stored.error
        log = ExecutionPaths(stored.folder).log
        return Reason(f"{stored.status} before", f"{detail} · log {log}" if detail else f"log {log}")
    return Reason("queued", stored.status)


def _previous(ex: StepExec, holders: list[tuple[str, str, str]], past: Past,
              same_params: dict[tuple[str, str], list[PastExecution]]) -> PastExecution | None:
    """The earlier execution of this step to compare with: the same run's (by id, then by name), else
    the latest one of the step with the same params (a step shared by runs that are all new; the last
    aggregate of an aggregate step)."""
    for table, index in ((past.by_run_id, 0), (past.by_run_name, 1), (past.by_run_name, 3)):
        for run_id, name, step in holders:
            label = (run_id, name, step, _readable_name(name, run_id))[index]
            key = table.get(label, {}).get(step)
            if key is not None and key in past.executions:
                return past.executions[key]
    if not ex.params and ex.kind != "aggregate":
        return None  # a step using no params in a new run: its earlier executions belong to other runs
    candidates = same_params.get((ex.step, canonical_json(dict(ex.params))), [])
    return max(candidates, key=lambda old: old.ended or 0.0) if candidates else None


def _readable_name(name: str, run_id: str) -> str:
    """The name a run would have had without its id suffix (given when another run of the experiment
    held that name, say after a defaults change): the run it replaces is found under it."""
    suffix = f"-{run_id[:8]}"
    return name[: -len(suffix)] if name.endswith(suffix) else name


def _changed(ex: StepExec, old: PastExecution, by_key: dict[str, StepExec]) -> Reason:
    params = dict(ex.params)
    if canonical_json(old.params) != canonical_json(params):
        changes = []
        for name in dict.fromkeys([*old.params, *params]):
            before, after = old.params.get(name, _MISSING), params.get(name, _MISSING)
            if _differs(before, after):
                changes.append(f"{name} {_show(before)} → {_show(after)}")
        return Reason("params changed", ", ".join(changes), old.key)
    if old.code != ex.code:
        return Reason("code changed", "", old.key)
    if set(old.needs) != set(ex.needs):
        new_needs = [by_key[k].step if k in by_key else k[:12] for k in ex.needs if k not in set(old.needs)]
        return Reason("upstream changed", ", ".join(dict.fromkeys(new_needs)), old.key)
    return Reason("command changed", "", old.key)


_MISSING = object()  # a param the execution did not use (added or dropped since)


def _differs(before: object, after: object) -> bool:
    if before is _MISSING or after is _MISSING:
        return before is not after
    return canonical_json(before) != canonical_json(after)


def _show(value: object) -> str:
    if value is _MISSING:
        return "(none)"
    return value_text(value)  # type: ignore[arg-type]


def counts(reasons: Mapping[str, Reason]) -> dict[str, int]:
    found: dict[str, int] = {}
    for reason in reasons.values():
        found[reason.kind] = found.get(reason.kind, 0) + 1
    return {kind: found[kind] for kind in KINDS if kind in found}


def plan_reasons(plan: Plan, home: str | os.PathLike[str], store_url: str | None) -> dict[str, Reason]:
    """Why each execution would run, from the store (read only; none there: every execution is new)."""
    from pathlib import Path

    from runyard.home import resolve_store_url
    from runyard.store.readonly import read_past

    return explain(plan, read_past(resolve_store_url(store_url, Path(home)), plan.experiment))


def plan_data(plan: Plan, reasons: Mapping[str, Reason] | None = None, spec: Spec | None = None) -> dict[str, object]:
    """The plan as plain data (``runyard plan --json``): its runs with their steps (command, key, needs,
    GPUs, kind and, given ``reasons``, why each would run), and the spec's ``select:`` block."""
    by_key = {ex.key: ex for ex in plan.executions}

    def step(name: str, key: str) -> dict[str, object]:
        ex = by_key[key]
        data: dict[str, object] = {"name": name, "key": key, "command": ex.command, "needs": list(ex.needs),
                                   "gpus": ex.gpus, "kind": ex.kind}
        if reasons is not None:
            reason = reasons[key]
            data["reason"] = {"kind": reason.kind, "detail": reason.detail, "runs": reason.runs,
                              "previous": reason.previous}
        return data

    found: dict[str, object] = {
        "experiment": plan.experiment,
        "runs": [
            {"id": run.id, "name": run.name, "stage": run.stage, "params": dict(run.params),
             "steps": [step(name, key) for name, key in run.steps]}
            for run in plan.runs
        ],
        "executions": len(plan.executions),
    }
    if reasons is not None:
        found["reasons"] = counts(reasons)
        found["to_run"] = sum(1 for r in reasons.values() if r.runs)
    if spec is not None and spec.select is not None:
        found["select"] = spec.select.to_data()
    return found
