"""The trial columns of a tuned experiment's runs: ``trial`` (its number), ``trial_state`` (running,
complete, pruned, failed) and ``best`` (``*`` on the best trial of each study, or on each trial of its
Pareto front)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

TRIAL_COLUMNS = ("trial", "trial_state", "best")


def directions(spec: Mapping[str, Any]) -> list[str]:
    """The objectives' directions of a stored spec's ``tune:`` block (maximize unless said)."""
    tune = spec.get("tune") or {}
    objective = tune.get("objective") if isinstance(tune, Mapping) else None
    items = objective if isinstance(objective, list) else [objective] if objective is not None else []
    return [str(o.get("direction", "maximize")) if isinstance(o, Mapping) else "maximize" for o in items]


def add_trial_columns(store: Any, experiment: str, spec: Mapping[str, Any], frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (index: run id) with the trial columns, when the experiment was tuned; else unchanged."""
    reader = getattr(store, "tune_trials", None)
    if reader is None or "tune" not in spec or any(c in frame.columns for c in TRIAL_COLUMNS):
        return frame
    rows = reader(experiment)
    if not rows:
        return frame
    import pandas as pd

    by_run = {row.run_id: row for row in rows}
    signs = [1.0 if d == "minimize" else -1.0 for d in directions(spec)]
    best: set[str] = set()
    studies: dict[str, list[Any]] = {}
    for row in rows:
        studies.setdefault(row.study, []).append(row)
    for trials in studies.values():  # each grid cell is a study of its own
        best |= _best(trials, signs)
    index = frame.index
    trial = pd.Series([by_run[i].number if i in by_run else None for i in index], index=index, dtype="Int64")
    state = pd.Series([by_run[i].state if i in by_run else "" for i in index], index=index, dtype=object)
    mark = pd.Series(["*" if i in best else "" for i in index], index=index, dtype=object)
    extra = pd.DataFrame({"trial": trial, "trial_state": state, "best": mark}, index=index)
    joined: pd.DataFrame = pd.concat([frame.iloc[:, :2], extra, frame.iloc[:, 2:]], axis=1)
    return joined


def _best(rows: list[Any], signs: list[float]) -> set[str]:
    """The run ids of the best complete trial, or of the Pareto front with several objectives."""
    scored = [r for r in rows if r.state == "complete" and r.values and len(r.values) == len(signs)
              and all(math.isfinite(v) for v in r.values)]
    if scored and len(signs) == 1:
        return {min(scored, key=lambda r: signs[0] * r.values[0]).run_id}
    keyed = [(r.run_id, [s * v for s, v in zip(signs, r.values, strict=True)]) for r in scored]
    return {rid for rid, v in keyed if not any(all(x <= y for x, y in zip(o, v, strict=True)) and o != v
                                               for _, o in keyed)}
