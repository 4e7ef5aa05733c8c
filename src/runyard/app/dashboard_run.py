"""The run page of the dashboard as plain data: params (defaults marked), metric summaries, steps,
provenance, the artifacts in each step's ``out/``, a log's tail, and a metric's points cut down for a
chart. Paths are given relative to the home, so the UI serves files from inside it alone."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runyard.errors import RunNotFound, suggest
from runyard.layout import ExecutionPaths

if TYPE_CHECKING:
    from runyard.store.base import ExecRecord, RunRecord
    from runyard.store.roles import ResultsReader

MAX_ARTIFACTS = 500  # files listed per step
TAIL_BYTES = 64 * 1024


def run_page(store: ResultsReader, run: str, home: str, experiment: str | None = None) -> dict[str, Any]:
    """Everything the run page shows (RunNotFound, with suggestions, for an unknown run)."""
    from runyard.analyze.yard import RunView
    from runyard.execute.lost import LOST, lost_among, shown_run_status, shown_status
    from runyard.model import Status

    record = store.run(run, experiment)
    execs = {e.key: e for e in store.executions(record.experiment, keys=[k for _, k in record.steps])}
    running = [e for e in execs.values() if e.status == Status.RUNNING]
    lost = lost_among(running, store.workers()) if running else set()
    defaults = _defaults(store, record.experiment)
    params = [{"name": name, "value": value, "default": name in defaults and defaults[name] == value}
              for name, value in record.params.items()]
    steps = []
    for name, key in record.steps:
        ex = execs[key]
        shown = shown_status(ex.status, key, lost)
        steps.append({"name": name, "key": key, "short": key[:12], "status": shown, "attempts": ex.attempts,
                      "exit_code": ex.exit_code, "duration": ex.duration, "started": ex.started,
                      "ended": ex.ended, "host": ex.host, "worker": ex.worker_id, "command": ex.command,
                      "error": ex.error if shown != LOST else "its worker is gone (dead, or its lease expired)",
                      "artifacts": artifacts(ex, home), "log": relative(ExecutionPaths(ex.folder).log, home)})
    summaries = RunView(store, record).metrics
    metrics = [{"name": name, "last": s.last, "min": s.min, "max": s.max, "count": s.count,
                "last_step": s.last_step} for name, s in sorted(summaries.items())]
    status = shown_run_status(record, lost)
    return {"id": record.id, "short": record.short, "name": record.name, "experiment": record.experiment,
            "status": status, "live": status in ("running", "ready", "waiting"), "stage": record.stage,
            "params": params, "metrics": metrics, "steps": steps,
            "provenance": provenance(list(execs.values()), record, home)}


def _defaults(store: ResultsReader, experiment: str) -> Mapping[str, Any]:
    spec = store.experiment(experiment).spec
    found = spec.get("params") if isinstance(spec, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def provenance(execs: list[ExecRecord], record: RunRecord, home: str) -> list[dict[str, Any]]:
    """Per step: command, host, GPU, git commit and dirty state, the diff and package list (files of the
    home, as links), Python and platform; what the worker recorded, flattened to (label, value) rows."""
    by_key = {e.key: e for e in execs}
    out = []
    for step, key in record.steps:
        ex = by_key[key]
        data = dict(ex.provenance or {})
        rows: list[tuple[str, Any]] = [("command", ex.command), ("host", ex.host)]
        files: list[tuple[str, str]] = []
        _flatten("", data, rows, files, home)
        shown = list(dict.fromkeys((k, str(v)) for k, v in rows if v not in (None, "", [], {})))
        out.append({"step": step, "rows": shown, "files": files})
    return out


def _flatten(prefix: str, data: Mapping[str, Any], rows: list[tuple[str, Any]], files: list[tuple[str, str]],
             home: str) -> None:
    for name, value in data.items():
        label = f"{prefix}{name}"
        if isinstance(value, Mapping):
            _flatten(f"{label}.", value, rows, files, home)
        elif isinstance(value, str) and os.path.isabs(value) and _inside(value, home):
            files.append((label, relative(value, home)))
        elif isinstance(value, (list, tuple)):
            rows.append((label, ", ".join(map(str, value))))
        else:
            rows.append((label, value))


def artifacts(ex: ExecRecord, home: str) -> list[dict[str, Any]]:
    """The files in the step's ``out/`` (path relative to the home, size), at most MAX_ARTIFACTS."""
    top = ExecutionPaths(ex.folder).out
    found: list[dict[str, Any]] = []
    if not os.path.isdir(top) or not _inside(top, home):
        return found
    for folder, dirs, names in os.walk(top):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(folder, name)
            if os.path.islink(path) and not _inside(path, home):
                continue
            try:
                size = os.path.getsize(path)
            except OSError:
                continue
            found.append({"path": relative(path, home), "name": os.path.relpath(path, top), "size": size})
            if len(found) >= MAX_ARTIFACTS:
                return found
    return found


def relative(path: str, home: str) -> str:
    return os.path.relpath(os.path.abspath(path), os.path.abspath(home))


def _inside(path: str, home: str) -> bool:
    real = os.path.realpath(path)
    root = os.path.realpath(home)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def log_tail(store: ResultsReader, run: str, step: str | None = None, *, max_bytes: int = TAIL_BYTES,
             experiment: str | None = None) -> dict[str, Any]:
    """The end of a step's log (default: the failed step, else the running one, else the last started)."""
    from runyard.app.inspect import pick_step

    record = store.run(run, experiment)
    names = [name for name, _ in record.steps]
    if step is not None and step not in names:
        raise RunNotFound(f"run {record.name} has no step {step!r}{suggest(step, names)} (steps: {', '.join(names)})")
    execs = {e.key: e for e in store.executions(record.experiment, keys=[k for _, k in record.steps])}
    chosen = pick_step(record.steps, execs, step)
    name = next(n for n, k in record.steps if k == chosen.key)
    path = ExecutionPaths(chosen.folder).log
    text, size = "", 0
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            text = handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        pass
    if size > max_bytes:
        text = text.partition("\n")[2]  # from the first whole line
    return {"run": record.id, "step": name, "status": str(chosen.status), "text": text, "size": size,
            "truncated": size > max_bytes}


def run_series(store: ResultsReader, run: str, metric: str, points: int = 2000,
               experiment: str | None = None) -> dict[str, Any]:
    """Metric ``metric`` of a run (``loss`` or ``step.loss``) as at most ``points`` (step, value) pairs,
    min/max per bucket; ``total`` is the number of stored points."""
    record = store.run(run, experiment)
    return series(store, record.experiment, [record.id], metric, points)[0]


def series(store: ResultsReader, experiment: str, run_ids: list[str], metric: str,
           points: int = 2000) -> list[dict[str, Any]]:
    """Metric ``metric`` of each of ``run_ids`` (one query), each cut to at most ``points`` points."""
    import numpy as np

    from runyard.app.downsample import min_max

    step_name, name = _metric_name(store, experiment, run_ids, metric)
    data = store.metric_series(experiment, name, run_ids=run_ids)
    run_col = np.asarray(data.get("run_id", []), dtype=object)
    step_col = np.asarray(data.get("step_name", []), dtype=object)
    x_col = np.asarray([np.nan if s is None else s for s in data.get("step", [])], dtype=float)
    y_col = np.asarray([np.nan if v is None else v for v in data.get("value", [])], dtype=float)
    t_col = np.asarray(data.get("time", []), dtype=float)
    out = []
    for run_id in run_ids:
        mask = run_col == run_id
        if step_name is not None:
            mask &= step_col == step_name
        x, y = x_col[mask], y_col[mask]
        if len(x) and bool(np.isnan(x).all()):  # no steps logged: the order they came in
            x = np.arange(len(x), dtype=float)
        elif len(x) and bool(np.isnan(x).any()):
            order = np.argsort(t_col[mask], kind="stable")
            x, y = np.arange(len(x), dtype=float), y[order]
        steps, values = min_max(x, y, points)
        out.append({"run": run_id, "metric": metric, "total": int(mask.sum()), "steps": steps, "values": values})
    return out


def _metric_name(store: ResultsReader, experiment: str, run_ids: list[str], metric: str) -> tuple[str | None, str]:
    """``loss`` → (None, "loss"); ``train.loss`` → ("train", "loss") when some run has a step ``train``."""
    head, dot, tail = metric.partition(".")
    if dot and tail:
        steps = {step for r in run_ids for step, _ in store.run(r, experiment).steps}
        if head in steps:
            return head, tail
    return None, metric
