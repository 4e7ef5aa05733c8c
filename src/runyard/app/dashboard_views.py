"""More of the dashboard as plain data: the step graph of an experiment's plan (each execution once,
however many runs share it), the queue (workers, leases, running steps) and the parallel-coordinates
view of a sweep (the params that differ against one metric)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from runyard.errors import UsageError

if TYPE_CHECKING:
    from runyard.store.roles import ResultsReader

MAX_GRAPH_NODES = 400
MAX_NAMED = 20_000  # step executions of an experiment beyond which the queue does not look up run names
NODE_W, NODE_H, GAP_X, GAP_Y = 170, 44, 60, 14


def plan_graph(store: ResultsReader, experiment: str, *, limit: int = MAX_GRAPH_NODES) -> dict[str, Any]:
    """Nodes (one per step execution, with its status and how many runs share it) placed in columns by
    depth, and need edges between them. At most ``limit`` nodes (``cut`` says how many were left out)."""
    from runyard.analyze.table import choose_experiment

    name = choose_experiment(store, experiment)
    execs = sorted(store.executions(name), key=lambda e: e.seq)
    shared: dict[str, int] = {}
    runs = store.runs(name)
    for run in runs:
        for _, key in run.steps:
            shared[key] = shared.get(key, 0) + 1
    kept = execs[:limit]
    known = {e.key for e in kept}
    depth: dict[str, int] = {}
    for ex in kept:  # submission order puts needs first
        depth[ex.key] = 1 + max((depth.get(k, 0) for k in ex.needs if k in known), default=-1)
    columns: dict[int, int] = {}
    nodes: list[dict[str, Any]] = []
    for ex in kept:
        column = depth[ex.key]
        row = columns.get(column, 0)
        columns[column] = row + 1
        label = ", ".join(f"{k}={v}" for k, v in ex.params.items())
        nodes.append({"key": ex.key, "short": ex.key[:12], "step": ex.step, "status": str(ex.status),
                      "runs": shared.get(ex.key, 0), "label": label,
                      "x": 10 + column * (NODE_W + GAP_X), "y": 10 + row * (NODE_H + GAP_Y)})
    at = {str(n["key"]): (int(n["x"]), int(n["y"])) for n in nodes}
    edges = []
    for ex in kept:
        for need in ex.needs:
            if need in at:
                (x1, y1), (x2, y2) = at[need], at[ex.key]
                edges.append({"x1": x1 + NODE_W, "y1": y1 + NODE_H / 2, "x2": x2, "y2": y2 + NODE_H / 2})
    width = 20 + max(columns, default=0) * (NODE_W + GAP_X) + NODE_W
    height = 20 + max(columns.values(), default=1) * (NODE_H + GAP_Y)
    return {"experiment": name, "nodes": nodes, "edges": edges, "width": width, "height": height,
            "node_w": NODE_W, "node_h": NODE_H, "cut": max(0, len(execs) - len(kept)),
            "runs": len(runs)}


def queue(store: ResultsReader) -> dict[str, Any]:
    """Workers (host, pid, slots, lease left, what each runs), running step executions and, per experiment,
    its counts by status and whether it is paused. Reads only (a dead worker's steps show as lost)."""
    from runyard.execute.lost import lost_among
    from runyard.model import Status

    now = time.time()
    running = store.executions(None, statuses=[Status.RUNNING])
    workers = store.workers()
    lost = lost_among(running, workers) if running else set()
    names: dict[str, tuple[str | None, str | None, str | None]] = {}
    for experiment in sorted({e.experiment for e in running}):
        if sum(store.counts(experiment).values()) > MAX_NAMED:
            continue  # a huge sweep: its running steps are shown without their run's name
        for run in store.runs(experiment):
            for step, key in run.steps:
                names.setdefault(key, (run.id, run.name, step))
    steps = [{"key": e.key, "short": e.key[:12], "experiment": e.experiment, "step": e.step,
              "run": names.get(e.key, (None, None, None))[0], "run_name": names.get(e.key, (None, None, None))[1],
              "worker": e.worker_id, "host": e.host, "pid": e.pid, "attempts": e.attempts,
              "elapsed": None if e.started is None else round(now - e.started, 1),
              "lease_left": None if e.lease_expires is None else round(e.lease_expires - now, 1),
              "lost": e.key in lost} for e in running]
    rows = [{"worker": w.id, "host": w.host, "pid": w.pid, "slots": w.slots, "alive": w.alive(now),
             "last_seen": round(now - w.last_seen, 1), "running": list(w.running)} for w in workers]
    experiments = []
    for name in store.experiments():
        counts = store.counts(name)
        experiments.append({"experiment": name, "paused": store.experiment(name).paused,
                            "counts": {str(s): n for s, n in counts.items() if n}})
    return {"workers": rows, "running": steps, "experiments": experiments}


def parallel(store: ResultsReader, experiment: str, metric: str | None, *, where: str | None = None,
             stage: str | None = None) -> dict[str, Any]:
    """Parallel coordinates: one dimension per param that differs (words as numbered ticks) and the
    metric last; one line per run with a value. ``metric`` None: the first metric."""
    import pandas as pd

    from runyard.analyze.table import choose_experiment, differing
    from runyard.analyze.yard import RunSet, Yard

    name = choose_experiment(store, experiment)
    runset = RunSet(Yard(store), name, where or None, stage)  # type: ignore[arg-type]
    results = runset.results()
    metrics = results.metric_columns
    if metric is None or metric == "":
        if not metrics:
            return {"experiment": name, "metric": None, "metrics": [], "dimensions": [], "runs": 0}
        metric = metrics[0]
    problem = results.problem(metric)
    if problem:
        raise UsageError(f"metric: {problem}")
    frame = results.frame
    target = pd.to_numeric(results.column(metric), errors="coerce")
    keep = target.notna().to_numpy()
    dims = []
    for param in differing(frame, results.params):
        column = frame[param][keep]
        numbers = pd.to_numeric(column, errors="coerce")
        if bool(numbers.notna().all()) and not pd.api.types.is_bool_dtype(column.dtype):
            dims.append({"label": param, "values": [float(v) for v in numbers]})
        else:
            words = sorted({str(v) for v in column})
            index = {w: i for i, w in enumerate(words)}
            dims.append({"label": param, "values": [index[str(v)] for v in column],
                         "tickvals": list(range(len(words))), "ticktext": words})
    values = [float(v) for v in target[keep]]
    metric_info = results.metric(metric)
    dims.append({"label": metric, "values": values})
    return {"experiment": name, "metric": metric, "metrics": metrics,
            "mode": metric_info.mode if metric_info else "max", "dimensions": dims, "runs": len(values),
            "names": [str(n) for n in frame["name"][keep]]}
