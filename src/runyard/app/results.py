"""What the terminal, reports, plots and exports show of an experiment's results, as plain data.

- :func:`sweep_summary`: the compact table ``runyard run`` ends with (one metric, the best starred);
- :func:`curves`: a metric's points per run, or per group with ``over`` (mean and its band);
- :func:`report_data`: everything a report shows (table, curves of every metric, params, provenance).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runyard.analyze.compare import Comparison, split_list
from runyard.analyze.curves import Curve, curves_of
from runyard.errors import UsageError

if TYPE_CHECKING:
    from runyard.analyze.yard import RunSet
    from runyard.store.base import Store

SUMMARY_ROWS = 20  # more runs than this: the best ones only
SUMMARY_BEST = 10
MAX_CURVES = 20  # curves drawn per metric in a report: the best by last value


@dataclass(frozen=True)
class SweepSummary:
    metric: str
    table: Comparison
    total: int  # runs of the sweep (the table may hold fewer)


def run_set(store: Store, experiment: str | None, where: str | None = None,
            stage: str | Sequence[str] | None = "sweep") -> RunSet:
    """The runs of ``experiment`` (default: the only one) matching ``where``."""
    from runyard.analyze.yard import Yard

    return Yard(store).runs(experiment, where, stage)


def headline_metric(runs: RunSet, declared: Sequence[str] = ()) -> str | None:
    """The metric column a summary shows: the first declared metric some run reports (its first step's
    column when two steps report it), else the first reported one; None when no run has metrics."""
    from runyard.analyze.compare import reported_metrics

    results = runs.results()
    reported = reported_metrics(results)
    for name in declared:
        if name in reported:
            return name
        for column in results.ambiguous.get(name, []):
            if column in reported:
                return column
    return reported[0] if reported else None


def sweep_summary(store: Store, experiment: str, declared: Sequence[str] = (),
                  keys: Sequence[str] | None = None) -> SweepSummary | None:
    """The sweep's runs with their differing params, status and headline metric (last value), in run
    order; beyond :data:`SUMMARY_ROWS` runs, the :data:`SUMMARY_BEST` best. None without metrics (with
    ``keys``, the executions of a plan: when none of them has a metric, answered without pandas)."""
    if keys is not None and not store.metric_summaries(keys):
        return None
    runs = run_set(store, experiment)
    metric = headline_metric(runs, declared)
    if metric is None:
        return None
    table = runs.comparison()
    frame = table.frame
    keep = [c for c in frame.columns if c not in set(runs.results().metric_columns) or c == metric]
    modes = {metric: table.modes.get(metric, "max")}
    total = len(frame)
    frame = frame[keep]
    if total > SUMMARY_ROWS:
        frame = frame.sort_values(metric, ascending=modes[metric] == "min", kind="stable",
                                  na_position="last").iloc[:SUMMARY_BEST]
    return SweepSummary(metric, Comparison(frame, modes=modes), total)


def curves(runs: RunSet, metric: str, *, over: str | Sequence[str] | None = None) -> list[Curve]:
    """The points of ``metric`` per run, or per group of runs with ``over`` (:func:`analyze.curves.curves_of`)."""
    results = runs.results()
    if results.metric(metric) is None:
        raise UsageError(results.problem(metric) or f"{metric!r} is not a metric of {runs.experiment}")
    return curves_of(results, runs.metrics(metric), over)


def best_curves(found: Sequence[Curve], mode: str, most: int = MAX_CURVES) -> list[Curve]:
    """The ``most`` curves whose last value is best (``max`` or ``min``), in their order; none without one."""
    import math

    scored = sorted((i for i, c in enumerate(found) if math.isfinite(c.last)),
                    key=lambda i: -found[i].last if mode == "max" else found[i].last)
    keep = set(scored[:most])
    return [c for i, c in enumerate(found) if i in keep]


@dataclass
class ReportData:
    experiment: str
    where: str | None
    over: tuple[str, ...]
    table: Comparison
    metrics: dict[str, list[Curve]] = field(default_factory=dict)  # metric column → its curves
    modes: dict[str, str] = field(default_factory=dict)
    params: list[str] = field(default_factory=list)  # those that differ
    rows: list[dict[str, Any]] = field(default_factory=list)  # per run: name, status, params, last metric values
    provenance: list[tuple[str, str]] = field(default_factory=list)  # (what, value) pairs
    runs: int = 0
    thinned: dict[str, int] = field(default_factory=dict)  # metric → how many curves it had (the best shown)


def report_data(store: Store, experiment: str | None, *, where: str | None = None,
                over: str | Sequence[str] | None = None) -> ReportData:
    """What ``runyard report`` shows: the comparison table (per run, or per group with ``over``), the
    curves of every reported metric, each run's differing params and last metric values (for the
    parallel coordinates), and a summary of the provenance recorded with the runs' steps."""
    from runyard.analyze.compare import reported_metrics
    from runyard.analyze.table import differing

    runs = run_set(store, experiment, where, stage=None)
    results = runs.results()
    names = split_list(over)
    table = runs.comparison(over=names or None)
    metrics = reported_metrics(results)
    data = ReportData(runs.experiment, where, tuple(names), table, runs=len(results),
                      params=differing(results.frame, results.params))
    for metric in metrics:
        column = results.metric(metric)
        data.modes[metric] = column.mode if column is not None else "max"
        found = curves(runs, metric, over=names or None)
        if len(found) > MAX_CURVES:  # a chart of hundreds of lines shows nothing: the best ones
            data.thinned[metric] = len(found)
            found = best_curves(found, data.modes[metric])
        data.metrics[metric] = found
    from runyard.analyze.formats import machine

    frame = results.frame
    for run_id in frame.index:
        row = {name: machine(frame.at[run_id, name]) for name in ["name", "status", *data.params, *metrics]}
        data.rows.append(row)
    data.provenance = provenance_summary(store, runs)
    return data


def provenance_summary(store: Store, runs: RunSet) -> list[tuple[str, str]]:
    """What was recorded with the runs' step executions, each distinct value once: git commits (and
    whether the tree was dirty), hosts, GPUs, Python and runyard versions, and the commands' count."""
    results = runs.results()
    keys = [key for run in store.runs(runs.experiment) if run.id in set(results.frame.index)
            for _, key in run.steps]
    seen: dict[str, dict[str, None]] = {}
    for ex in store.executions(runs.experiment, keys=keys) if keys else []:
        prov = dict(ex.provenance or {})
        code = prov.get("code") or {}
        if isinstance(code, dict) and code.get("commit"):
            branch = f" on {code['branch']}" if code.get("branch") else ""
            dirty = " with uncommitted changes" if code.get("dirty") else ""
            seen.setdefault("git commit", {})[f"{str(code['commit'])[:12]}{branch}{dirty}"] = None
        for name, label in (("host", "host"), ("python", "python"), ("platform", "platform"),
                            ("runyard_version", "runyard")):
            if prov.get(name):
                seen.setdefault(label, {})[str(prov[name])] = None
        if prov.get("gpus"):
            seen.setdefault("gpus", {})[", ".join(map(str, prov["gpus"]))] = None
    return [(what, ", ".join(list(values)[:6]) + (f" and {len(values) - 6} more" if len(values) > 6 else ""))
            for what, values in seen.items()]
