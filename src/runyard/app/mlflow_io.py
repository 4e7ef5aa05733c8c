"""``runyard export mlflow`` and ``runyard import mlflow``: runs, params, metric series and tags, both ways,
through MLflow's own client (a tracking URI: ``sqlite:///mlflow.db``, a server, or ``file:`` where MLflow
still allows it). Needs the ``mlflow`` extra (``mlflow-skinny`` and ``alembic``), imported only here.

Export: one MLflow run per runyard run (name, params, every point of every metric, start and end,
status), tagged ``runyard.run_id``; runyard tags become MLflow tags ``<tag> = true``, the note
``mlflow.note.content``. A run exported before (same ``runyard.run_id``) is skipped.

Import: one runyard run per MLflow run, with one step execution ``mlflow`` holding its metric series;
MLflow tags ``<tag> = true`` become runyard tags, other user tags ``key=value`` tags, the MLflow note
the runyard note. The runs get folders like any other (``run.json``, ``meta.json``), so ``reindex``
keeps them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runyard.errors import MissingDependency, RunNotFound, UsageError
from runyard.execute import files
from runyard.layout import ExecutionPaths, HomePaths
from runyard.model import Plan, Run, Status
from runyard.store.base import ExecRecord, ExperimentRecord, Restored, RunRecord, Store

RUN_ID_TAG = "runyard.run_id"
NOTE_TAG = "mlflow.note.content"
STEP = "mlflow"  # the one step of an imported run
_STATUS_OUT = {Status.DONE: "FINISHED", Status.FAILED: "FAILED", Status.INTERRUPTED: "KILLED",
               Status.CANCELLED: "KILLED", Status.RUNNING: "RUNNING"}
_STATUS_IN = {"FINISHED": Status.DONE, "FAILED": Status.FAILED, "KILLED": Status.CANCELLED}
_BATCH = 500


@dataclass
class Transfer:
    experiment: str
    runs: int = 0
    skipped: list[str] = field(default_factory=list)
    params: int = 0
    points: int = 0


def client(tracking_uri: str | None) -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise MissingDependency("mlflow-skinny", "mlflow", "exporting to and importing from MLflow") from None
    return MlflowClient(tracking_uri=tracking_uri)


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None or math.isnan(seconds) else round(seconds * 1000)


def _chunks(items: Sequence[Any], size: int = _BATCH) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def export_mlflow(store: Store, experiment: str, *, tracking_uri: str | None = None, into: str | None = None,
                  run_ids: Sequence[str] | None = None) -> Transfer:
    """Export the runs of ``experiment`` (of ``run_ids`` only when given) to the MLflow experiment ``into``
    (default: the same name), created when missing."""
    from mlflow.entities import Metric, Param

    from runyard.analyze.table import choose_experiment, load

    choose_experiment(store, experiment)
    mlflow = client(tracking_uri)
    name = into or experiment
    found = mlflow.get_experiment_by_name(name)
    exp_id = found.experiment_id if found is not None else mlflow.create_experiment(name)
    done = {r.data.tags.get(RUN_ID_TAG) for r in _all_runs(mlflow, exp_id)}
    columns = load(store, experiment).metrics
    result = Transfer(name)
    wanted = None if run_ids is None else set(run_ids)
    for run in store.runs(experiment):
        if wanted is not None and run.id not in wanted:
            continue
        if run.id in done:
            result.skipped.append(f"{run.name}: exported before")
            continue
        execs = {x.key: x for x in store.executions(experiment, keys=[k for _, k in run.steps])}
        started = [x.started for x in execs.values() if x.started is not None]
        ended = [x.ended for x in execs.values() if x.ended is not None]
        tags = {RUN_ID_TAG: run.id, "runyard.experiment": experiment, "runyard.stage": run.stage,
                **dict.fromkeys(run.tags, "true"), **({NOTE_TAG: run.note} if run.note else {})}
        created = mlflow.create_run(exp_id, start_time=_ms(min(started) if started else run.created),
                                    tags=tags, run_name=run.name)
        mlflow_id = created.info.run_id
        params = [Param(k, json.dumps(v) if isinstance(v, (list, dict)) else str(v)) for k, v in run.params.items()]
        points: list[Any] = []
        steps = dict(run.steps)
        for column in columns:
            key = steps.get(column.step)
            if key is None:
                continue
            for index, point in enumerate(store.metric_points(key, column.name)):
                time = point.time if point.time is not None else (execs[key].ended or run.created)
                points.append(Metric(column.column, point.value, _ms(time) or 0,
                                     point.step if point.step is not None else index))
        for part in _chunks(params, 100):
            mlflow.log_batch(mlflow_id, params=list(part))
        for part in _chunks(points):
            mlflow.log_batch(mlflow_id, metrics=list(part))
        status = _STATUS_OUT.get(run.status)
        if status is not None and status != "RUNNING":
            mlflow.set_terminated(mlflow_id, status=status, end_time=_ms(max(ended)) if ended else None)
        result.runs += 1
        result.params += len(params)
        result.points += len(points)
    return result


def _all_runs(mlflow: Any, exp_id: str) -> list[Any]:
    runs: list[Any] = []
    token = None
    while True:
        page = mlflow.search_runs([exp_id], max_results=1000, page_token=token)
        runs += list(page)
        token = page.token
        if not token:
            return runs


def _param(text: str) -> Any:
    """An MLflow param (text) as the value runyard would have: a number, a boolean, None, JSON, else text."""
    if text in ("True", "False"):
        return text == "True"
    if text == "None":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def _tags(tags: Mapping[str, str]) -> list[str]:
    found = []
    for key, value in tags.items():
        if key.startswith(("mlflow.", "runyard.")):
            continue
        tag = key if value == "true" else f"{key}={value}"
        if tag and not any(c.isspace() or c == "," for c in tag):
            found.append(tag)
    return sorted(found)


def import_mlflow(store: Store, name: str, *, home: str, tracking_uri: str | None = None,
                  into: str | None = None) -> Transfer:
    """Import the runs of the MLflow experiment ``name`` as runyard experiment ``into`` (default: the same
    name) in ``home``. Importing again replaces the runs imported before."""
    target = into or name
    if target in store.experiments() and store.experiment(target).spec_path != _source(tracking_uri, name):
        raise UsageError(f"experiment {target!r} exists in this store and was not imported from MLflow {name!r}: "
                         "choose another name with --into")
    mlflow = client(tracking_uri)
    found = mlflow.get_experiment_by_name(name)
    if found is None:
        known = [e.name for e in mlflow.search_experiments()]
        from runyard.errors import suggest

        raise RunNotFound(f"no MLflow experiment {name!r} at {tracking_uri or 'the default tracking URI'}"
                          f"{suggest(name, known)} (experiments: {', '.join(known) or 'none'})")
    paths = HomePaths(home).experiment(target)
    result = Transfer(target)
    runs: list[RunRecord] = []
    execs: list[ExecRecord] = []
    series: dict[str, list[tuple[str, str, int | None, float | None, float | None]]] = {}
    names: set[str] = set()
    for source in sorted(_all_runs(mlflow, found.experiment_id), key=lambda r: (r.info.start_time or 0, r.info.run_id)):
        info, data = source.info, source.data
        run_id = hashlib.sha256(f"mlflow:{info.run_id}".encode()).hexdigest()
        key = hashlib.sha256(f"mlflow-step:{info.run_id}".encode()).hexdigest()
        run_name = info.run_name or info.run_id
        if run_name in names:
            run_name = f"{run_name}-{info.run_id[:8]}"
        names.add(run_name)
        params = {k: _param(v) for k, v in sorted(data.params.items())}
        start = (info.start_time or 0) / 1000
        end = info.end_time / 1000 if info.end_time else None
        status = _STATUS_IN.get(info.status, Status.INTERRUPTED)
        folder = paths.execution(STEP, key)
        execs.append(ExecRecord(key=key, experiment=target, step=STEP, command=f"# MLflow run {info.run_id}",
                                needs=(), folder=folder, workdir=home, params=params, kind="mlflow", status=status,
                                attempts=1, submitted=start, started=start, ended=end,
                                duration=None if end is None else end - start,
                                provenance={"mlflow": {"run_id": info.run_id, "tracking_uri": tracking_uri,
                                                       "experiment": name}}))
        runs.append(RunRecord(id=run_id, experiment=target, name=run_name, params=params, folder=paths.run(run_name),
                              steps=((STEP, key),), created=start, tags=tuple(_tags(data.tags)),
                              note=data.tags.get(NOTE_TAG, "")))
        rows = series.setdefault(key, [])
        for metric in data.metrics:
            for point in mlflow.get_metric_history(info.run_id, metric):
                rows.append((key, metric, point.step, point.value, point.timestamp / 1000))
        result.runs += 1
        result.params += len(params)
    defaults = {k: v for r in runs for k, v in r.params.items()}
    spec = {"experiment": target, "params": dict(sorted(defaults.items())), "steps": {STEP: "true"}}
    record = ExperimentRecord(target, spec, _source(tracking_uri, name), home, False,
                              min((r.created for r in runs), default=0.0), max((r.created for r in runs), default=0.0))
    if target in store.experiments():
        store.remove_runs([r.id for r in store.runs(target)])
    store.restore(Restored(record, tuple(runs), tuple(execs)))
    for key, rows in series.items():
        if rows:
            store.log_metric_rows(key, rows)
            result.points += len(rows)
    _write_folders(record, runs, execs, series)
    return result


def _source(tracking_uri: str | None, name: str) -> str:
    return f"<MLflow {name} at {tracking_uri or 'the default tracking URI'}>"


def _write_folders(record: ExperimentRecord, runs: Sequence[RunRecord], execs: Sequence[ExecRecord],
                   series: Mapping[str, Sequence[tuple[str, str, int | None, float | None, float | None]]]) -> None:
    """The folders of imported runs: run.json, labels.json, each execution's meta.json and its metric
    series as a metrics file (what ``runyard.log`` writes)."""
    plan_runs = tuple(Run(r.id, r.experiment, r.name, r.params, r.steps, r.folder) for r in runs)
    plan = Plan(record.name, record.home, record.spec_path, plan_runs, tuple(x.to_step_exec() for x in execs),
                spec=record.spec)
    for x in execs:
        os.makedirs(x.folder, exist_ok=True)
        files.write_meta(x, status=str(x.status), started=x.started, ended=x.ended, duration=x.duration,
                         provenance=dict(x.provenance or {}))
        lines = [json.dumps({"time": t, **({"step": s} if s is not None else {}), name: v})
                 for _, name, s, v, t in series.get(x.key, ())]
        files.write_atomic(ExecutionPaths(x.folder).metrics, "".join(line + "\n" for line in lines))
    files.write_run_folders(plan)
    for r in runs:
        files.write_labels(r.folder, r.tags, r.note)
