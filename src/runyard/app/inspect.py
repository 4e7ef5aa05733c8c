"""What ``runyard ls``, ``show``, ``logs`` and ``status`` read, as plain data (what their ``--json`` prints).

A step execution whose worker is gone (dead, or its lease expired) shows as ``lost`` here; only
:func:`worker_status` takes such steps back, as any worker would.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from runyard.errors import RunNotFound, suggest
from runyard.layout import ExecutionPaths
from runyard.model import Status
from runyard.store.base import ExecRecord, RunRecord, Store


def experiment_rows(store: Store) -> list[dict[str, Any]]:
    """Each experiment: its name, how many runs, and how many of them in each status."""
    from runyard.execute.lost import lost_keys, shown_run_status

    lost = lost_keys(store, None)
    rows = []
    for name in store.experiments():
        runs = store.runs(name)
        counts: dict[str, int] = {}
        for run in runs:
            shown = shown_run_status(run, lost)
            counts[shown] = counts.get(shown, 0) + 1
        rows.append({"experiment": name, "runs": len(runs), "status": counts})
    return rows


def run_rows(store: Store, experiment: str, stages: Collection[str]) -> list[dict[str, Any]]:
    """The runs of ``experiment`` of ``stages``: id, name, status, stage, origin (and its name), params,
    folder and each step's shown status (RunNotFound, with suggestions, for an unknown experiment)."""
    from runyard.execute.lost import lost_keys, shown_run_status, shown_status

    names = store.experiments()
    if experiment not in names:
        raise RunNotFound(f"no experiment {experiment!r}{suggest(experiment, names)} "
                          f"(experiments: {', '.join(names) or 'none'})")
    lost = lost_keys(store, experiment)
    every = store.runs(experiment)
    by_id = {r.id: r.name for r in every}
    return [{"id": r.id, "name": r.name, "status": shown_run_status(r, lost), "stage": r.stage, "origin": r.origin,
             "origin_name": by_id.get(r.origin, r.origin[:12]) if r.origin else "",
             "params": dict(r.params), "folder": r.folder,
             "steps": [(name, shown_status(status, key, lost))
                       for (name, key), status in zip(r.steps, r.statuses, strict=False)]}
            for r in every if r.stage in stages]


def run_details(store: Store, run: str, experiment: str | None = None) -> dict[str, Any]:
    """A run (name, id, id prefix, or a step execution's key or key prefix: the run holding it): params,
    folder, origin, each step's status, command, error and log, and each metric's summary and sparkline."""
    from runyard.app.targets import resolve
    from runyard.execute.lost import LOST, lost_among, shown_run_status, shown_status

    target = resolve(store, run, experiment)
    record = target.run
    execs = {e.key: e for e in store.executions(record.experiment, keys=[k for _, k in record.steps])}
    running = [e for e in execs.values() if e.status == Status.RUNNING]
    lost = lost_among(running, store.workers()) if running else set()
    steps = []
    for name, key in record.steps:
        ex = execs[key]
        shown = shown_status(ex.status, key, lost)
        error = (f"its worker {ex.worker_id} is gone (dead, or its lease expired); the next `runyard run` "
                 "or worker takes it back") if shown == LOST else ex.error
        steps.append({"name": name, "key": key, "status": shown, "exit_code": ex.exit_code,
                      "attempts": ex.attempts, "duration": ex.duration, "error": error,
                      "command": ex.command, "folder": ex.folder, "log": ExecutionPaths(ex.folder).log})
    return {"id": record.id, "name": record.name, "experiment": record.experiment,
            "status": shown_run_status(record, lost), "stage": record.stage, "origin": record.origin,
            "origin_name": _origin(store, record.origin, record.experiment), "params": dict(record.params),
            "folder": record.folder, "tags": list(record.tags), "note": record.note, "steps": steps,
            "metrics": metric_rows(store, record),
            "named": None if target.execution is None else target.execution.key,
            "shared_with": [r.name for r in target.runs[1:]]}


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int = 24) -> str:
    """One line of block characters: ``values`` (NaN and infinities left out) in at most ``width``
    buckets, each its bucket's mean, scaled from the smallest to the largest."""
    finite = [v for v in values if v == v and v not in (float("inf"), float("-inf"))]
    if not finite:
        return ""
    if len(finite) > width:
        size = len(finite) / width
        finite = [sum(part) / len(part) for part in
                  (finite[int(i * size):max(int(i * size) + 1, int((i + 1) * size))] for i in range(width))]
    low, high = min(finite), max(finite)
    if high == low:
        return SPARK[3] * len(finite)
    top = len(SPARK) - 1
    return "".join(SPARK[round((v - low) / (high - low) * top)] for v in finite)


def metric_rows(store: Store, record: RunRecord) -> list[dict[str, Any]]:
    """Each metric of a run (``step.name`` when two of its steps report ``name``): its last, min, max,
    count, the training step of its last point, and a sparkline of its points."""
    steps = dict(record.steps)
    found = store.metric_summaries(list(steps.values()))
    counts: dict[str, int] = {}
    for key in steps.values():
        for metric in found.get(key, {}):
            counts[metric] = counts.get(metric, 0) + 1
    rows = []
    for step, key in steps.items():
        for metric, summary in sorted(found.get(key, {}).items()):
            points = store.metric_points(key, metric)
            rows.append({"name": metric if counts[metric] == 1 else f"{step}.{metric}", "step": step,
                         "last": summary.last, "min": summary.min, "max": summary.max, "count": summary.count,
                         "last_step": summary.last_step, "spark": sparkline([p.value for p in points])})
    return rows


def _origin(store: Store, origin: str | None, experiment: str) -> str | None:
    """The name of the run a final run was selected from (its id when it is gone)."""
    if origin is None:
        return None
    try:
        return store.run(origin, experiment).name
    except RunNotFound:
        return origin


def step_of(store: Store, record: RunRecord, step: str | None) -> ExecRecord:
    """The execution of ``step`` of a run (default: the failed one, else the running one, else the last
    started); RunNotFound, with suggestions, for a step the run does not have."""
    names = [name for name, _ in record.steps]
    if step is not None and step not in names:
        raise RunNotFound(f"run {record.name} has no step {step!r}{suggest(step, names)} "
                          f"(steps: {', '.join(names)})")
    execs = {e.key: e for e in store.executions(record.experiment, keys=[k for _, k in record.steps])}
    return pick_step(record.steps, execs, step)


def pick_step(steps: Sequence[tuple[str, str]], execs: Mapping[str, ExecRecord], name: str | None) -> ExecRecord:
    if name is not None:
        return next(execs[k] for n, k in steps if n == name)
    ordered = [execs[k] for _, k in steps]
    for status in (Status.FAILED, Status.RUNNING):
        for ex in ordered:
            if ex.status == status:
                return ex
    started = [ex for ex in ordered if ex.started is not None]
    return started[-1] if started else ordered[0]


def worker_status(store: Store) -> tuple[list[str], list[dict[str, Any]]]:
    """Take back the steps of dead workers (what was taken back, one line each), then every worker with
    its slots and the step executions it runs."""
    import socket

    from runyard.execute.recovery import recover

    taken: list[str] = []
    recover(store, "", socket.gethostname(), lambda event: taken.append(event.message))
    from runyard.app.targets import labels_for

    now = time.time()
    rows = []
    workers = store.workers()
    records = {key: store.execution(key) for worker in workers for key in worker.running}
    labels = labels_for(store, list(records.values()))
    for worker in workers:
        running = []
        for key in worker.running:
            ex = records[key]
            running.append({"key": key, "experiment": ex.experiment, "step": ex.step, "label": labels[key],
                            "pid": ex.pid,
                            "elapsed": None if ex.started is None else round(now - ex.started, 1),
                            "log": ExecutionPaths(ex.folder).log})
        rows.append({"worker": worker.id, "host": worker.host, "pid": worker.pid, "slots": worker.slots,
                     "alive": worker.alive(now), "last_seen": round(now - worker.last_seen, 1),
                     "running": running})
    return taken, rows


def queue_lines(store: Store) -> list[str]:
    """The queue in one line, then a line per paused experiment (or, with several, per busy one)."""
    counts = store.counts()
    lines = ["queue: " + (", ".join(f"{n} {s}" for s, n in counts.items() if n) or "empty")]
    names = store.experiments()
    for name in names:
        record = store.experiment(name)
        mine = store.counts(name)
        queued = mine[Status.READY] + mine[Status.WAITING]
        if record.paused or (len(names) > 1 and (queued or mine[Status.RUNNING])):
            paused = " (paused: nothing new starts; `runyard resume` it)" if record.paused else ""
            lines.append(f"  {name}: {queued} queued, {mine[Status.RUNNING]} running{paused}")
    return lines
