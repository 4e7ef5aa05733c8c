"""Warm start: the past runs of an experiment that lie in a study's space, read in bulk from the store."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from runyard.errors import RunNotFound
from runyard.model import ParamValue, Status
from runyard.spec.tune import TuneSpec
from runyard.store.base import Store

PastRun = tuple[dict[str, ParamValue], list[float], None]


def past_runs(store: Store, experiment: str, tune: TuneSpec, cell: Mapping[str, ParamValue], *,
              skip: Collection[str] = ()) -> list[PastRun]:
    """(searched params, objective values, None) of every completed sweep run of ``experiment`` whose
    params match the grid cell and lie in the space and that has every objective (grid runs included;
    the runs of ``skip``, the study's own trials, are not)."""
    try:
        tables = store.results(experiment, stats=("last",))
    except RunNotFound:
        return []
    runs, sums = tables.runs, tables.summaries
    metrics = [o.metric for o in tune.objectives]
    values: dict[int, dict[str, float]] = {}
    for position, name, last in zip(sums["run"], sums["name"], sums["last"], strict=True):
        if name in metrics and last is not None:
            values.setdefault(int(position), {})[name] = float(last)
    done = Status.DONE.value
    found: list[PastRun] = []
    for position, (run_id, params, status, stage) in enumerate(
            zip(runs["id"], _param_dicts(runs["params"]), runs["status"], runs["stage"], strict=True)):
        got = values.get(position)
        if status != done or stage != "sweep" or run_id in skip or got is None or len(got) < len(metrics):
            continue
        if any(params.get(k) != v for k, v in cell.items()):
            continue
        searched = tune.in_space(params)
        if searched is not None:
            found.append((searched, [got[m] for m in metrics], None))
    return found


def _param_dicts(params: Any) -> list[dict[str, ParamValue]]:
    """The runs' params as dicts, whether the store gave dicts or a DataFrame (a missing param is NaN there:
    left out)."""
    if isinstance(params, list):
        return params
    records = params.to_dict("records")
    return [{k: v for k, v in record.items() if not (isinstance(v, float) and v != v)} for record in records]
