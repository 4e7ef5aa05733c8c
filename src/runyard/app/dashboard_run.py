"""The run page of the dashboard as plain data: params (defaults marked), metric summaries, steps,
provenance, the artifacts in each step's ``out/``, a log's tail, and a metric's points cut down for a
chart. Paths are given relative to the home, so the UI serves files from inside it alone."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
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
    """Metric ``metric`` of each of ``run_ids``, each cut to at most ``points`` points: a short series is
    read whole and cut here; a long one (over ENVELOPE_ABOVE points) is cut by the database."""
    from runyard.app.downsample import MAX_POINTS, MIN_POINTS

    points = max(MIN_POINTS, min(MAX_POINTS, int(points)))
    records = [store.run(r, experiment) for r in run_ids]
    keys = [key for record in records for _, key in record.steps]
    summaries = store.metric_summaries(keys)
    out = []
    for record in records:
        found = _reporting(record.steps, summaries, metric)
        if found is None:
            out.append({"run": record.id, "metric": metric, "total": 0, "steps": [], "values": []})
            continue
        key, name, count = found
        envelope = store.metric_envelope(key, name, points // 2) if count > ENVELOPE_ABOVE else None
        if envelope is not None:
            steps, values = _from_envelope(envelope)
        else:
            steps, values = _cut(store.metric_points(key, name), points)
        out.append({"run": record.id, "metric": metric, "total": count, "steps": steps, "values": values})
    return out


ENVELOPE_ABOVE = 20_000


def _reporting(steps: Sequence[tuple[str, str]], summaries: Mapping[str, Mapping[str, Any]],
               metric: str) -> tuple[str, str, int] | None:
    """(execution key, metric name, points) of the step of the run reporting ``metric`` (``loss`` when
    one step reports it, ``train.loss`` for the step ``train``)."""
    head, dot, tail = metric.partition(".")
    for step, key in steps:
        if dot and step == head and tail in summaries.get(key, {}):
            return key, tail, int(summaries[key][tail].count)
    for _, key in steps:
        if metric in summaries.get(key, {}):
            return key, metric, int(summaries[key][metric].count)
    return None


def _cut(found: Sequence[Any], points: int) -> tuple[list[float], list[float]]:
    """Points read whole, cut to ``points`` (no steps logged: numbered in the order they came)."""
    from runyard.app.downsample import min_max

    ordered = sorted(found, key=lambda p: (p.time or 0.0))
    if any(p.step is None for p in ordered):
        return min_max(list(range(len(ordered))), [p.value for p in ordered], points)
    return min_max([p.step for p in ordered], [p.value for p in ordered], points)


def _from_envelope(rows: Sequence[tuple[int, int, float | None, float | None, int]]) -> tuple[list[float], list[Any]]:
    """Each bucket as two points, its lowest value at its first step and its highest at its last (one point
    for a bucket of one step): steps stay strictly increasing, and the chart draws the series' envelope."""
    steps: list[float] = []
    values: list[Any] = []
    for first, last, low, high, _ in rows:
        steps.append(float(first))
        values.append(low)
        if last != first:
            steps.append(float(last))
            values.append(high)
    return steps, values
