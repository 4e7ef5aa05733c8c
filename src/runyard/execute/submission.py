"""Submitting without running: what ``runyard submit``, ``runyard run --detach`` and the notebook's
``yard.submit`` share. Workers anywhere (``runyard worker``) then pull the queued executions."""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass

from runyard.execute import files
from runyard.execute import snapshot as snapshots
from runyard.model import Plan
from runyard.store.base import Store, SubmitResult


@dataclass(frozen=True)
class Submitted:
    result: SubmitResult
    snapshot: snapshots.Snapshot | None = None


def submit_plan(store: Store, plan: Plan, *, priority: int = 0, force: Collection[str] = (),
                snapshot: bool = False) -> Submitted:
    """Enqueue ``plan`` (one transaction, idempotent by key) and write its run folders.

    ``snapshot``: freeze the code first (see :mod:`runyard.execute.snapshot`); the queued steps run
    from that copy whatever happens to the checkout later."""
    taken = None
    if snapshot:
        taken = snapshots.take(os.path.dirname(plan.spec_path), plan.home)
        plan = snapshots.apply(plan, taken)
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
