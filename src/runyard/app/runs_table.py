"""The run table an aggregate step reads: ``runs.csv`` in its execution folder, written by the worker
right before it launches the aggregate.

One row per run the aggregate covers (the sweep runs whose every execution it needs), the columns of
``runyard compare --format csv`` over those runs (name, status, the params that differ, the last value
of every metric) with ``id`` first and ``folder`` (the run folder, holding a link per step) last.
Built by the analysis layer (``analyze.table`` / ``compare`` / ``formats``), which imports nothing of
``execute``.
"""

from __future__ import annotations

from collections.abc import Collection

from runyard.errors import LaunchError
from runyard.execute import files
from runyard.layout import ExecutionPaths
from runyard.model import StepExec
from runyard.store.base import RunRecord, Store

ENV = "RUNYARD_RUNS"


def covered_runs(store: Store, ex: StepExec) -> list[RunRecord]:
    """The sweep runs an aggregate execution covers: every execution of theirs is one it needs."""
    needs = set(ex.needs)
    return [r for r in store.runs(ex.experiment)
            if r.stage == "sweep" and r.steps and all(key in needs for _, key in r.steps)]


def runs_csv(store: Store, experiment: str, runs: Collection[RunRecord]) -> str:
    """The CSV text of the run table of ``runs``."""
    from runyard.analyze.compare import compare
    from runyard.analyze.formats import render
    from runyard.analyze.table import load

    results = load(store, experiment)
    ids = {r.id for r in runs}
    table = compare(results.select(results.frame.index.isin(ids)), every_metric=True)  # columns an aggregate uses
    frame = table.frame
    frame.insert(0, "id", frame.index.to_numpy())
    folders = {r.id: r.folder for r in runs}
    frame["folder" if "folder" not in frame.columns else "run.folder"] = [folders[i] for i in frame.index]
    return render(table, "csv")


def write_runs_table(store: Store, ex: StepExec) -> str:
    """Write ``runs.csv`` of aggregate execution ``ex``; return its path."""
    path = ExecutionPaths(ex.folder).runs_table
    files.write_atomic(path, runs_csv(store, ex.experiment, covered_runs(store, ex)))
    return path


def runs_table_for_launch(store: Store, ex: StepExec) -> str:
    """:func:`write_runs_table` for the worker: any failure (the store unreachable, a table that cannot
    be built) is a :class:`LaunchError`, so the aggregate fails to start, loudly."""
    try:
        return write_runs_table(store, ex)
    except OSError:
        raise
    except Exception as err:
        raise LaunchError(f"could not write the run table {ExecutionPaths(ex.folder).runs_table}: "
                          f"{type(err).__name__}: {err}") from err
