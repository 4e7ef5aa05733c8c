"""Submitting without running: what ``runyard submit``, ``runyard run --detach`` and the notebook's
``yard.submit`` share. Workers anywhere (``runyard worker``) then pull the queued executions."""

from __future__ import annotations

import os
import socket
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from runyard.app import snapshot as snapshots
from runyard.execute import files
from runyard.execute.recovery import recover
from runyard.model import Plan
from runyard.store.base import Store, SubmitResult


@dataclass(frozen=True)
class Submitted:
    result: SubmitResult
    snapshot: snapshots.Snapshot | None = None


def submit_plan(store: Store, plan: Plan, *, priority: int = 0, force: Collection[str] = (),
                snapshot: bool = False) -> Submitted:
    """Enqueue ``plan`` (one transaction, idempotent by key) and write its run folders.

    ``snapshot``: freeze the code first (see :mod:`runyard.app.snapshot`); the queued steps run
    from that copy whatever happens to the checkout later."""
    taken = None
    if snapshot:
        taken = snapshots.take(os.path.dirname(plan.spec_path), plan.home, store_url=store.url)
        plan = snapshots.apply(plan, taken)
    # steps of workers that died (or froze, on this host: their processes are killed) are queued again,
    # or failed when their retries are spent, before the plan is matched against the store
    recover(store, "", socket.gethostname(), lambda event: None)
    result = store.submit(plan, force=force, priority=priority)
    files.write_run_folders(plan)
    return Submitted(result, taken)


def describe(result: SubmitResult) -> str:
    """One line: what the submit added and what was already there."""
    parts = [f"{len(result.added)} added"]
    for label, keys in (("requeued", result.requeued), ("forced", result.forced),
                        ("already queued or running", result.already_queued), ("already done", result.cached)):
        if keys:
            parts.append(f"{len(keys)} {label}")
    runs = f"{result.runs_total} runs ({result.runs_added} new)"
    return f"{result.experiment}: {runs}; step executions: {', '.join(parts)}"


def submit_stored(store: Store, experiment: str, overrides: Mapping[str, Any], *, sweep: str | None = None,
                  priority: int = 0, snapshot: bool = False, force: bool = False) -> Submitted:
    """Submit more runs of an experiment whose spec is in the store (the notebook's ``yard.submit``).

    ``overrides``: a scalar pins a param in every run, a list or tuple makes it an axis of every grid
    (like ``k=v`` and ``k=a,b`` on the command line). The spec is the one stored by the last submit
    (see :mod:`runyard.app.stored`), planned like ``runyard submit`` plans its file."""
    from runyard.app.planning import make_plan
    from runyard.app.stored import load_stored_spec
    from runyard.errors import Problem, SpecError, suggest
    from runyard.spec.yamlfile import shown

    stored = load_stored_spec(store, experiment)
    names = stored.spec.param_names
    unknown = [Problem(f"submit({shown(str(key))}=…)", f"{shown(str(key))!r} is not a param of {experiment}"
                       f"{suggest(str(key), names)} (params: {', '.join(names)})")
               for key in overrides if key not in names]
    if unknown:
        raise SpecError(unknown)
    plan = make_plan(stored.spec, home=stored.home, overrides=overrides, sweep=sweep, names=store)
    keys = {ex.key for ex in plan.executions} if force else set()
    return submit_plan(store, plan, priority=priority, force=keys, snapshot=snapshot)
