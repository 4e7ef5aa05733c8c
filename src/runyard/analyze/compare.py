"""Comparison tables: one row per run (differing params, chosen columns, sorted), or one row per
group of runs that differ only in the ``over`` params (mean, std with ddof=1, and n per value)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runyard.analyze.table import Results, differing
from runyard.analyze.where import suggestions
from runyard.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

PER_RUN_ONLY = ("id", "name", "origin", "started", "ended")  # columns that cannot be aggregated over runs
AGGREGATES = ("mean", "std", "n")


@dataclass(frozen=True)
class Comparison:
    """``frame`` is the table in machine form. Per run: index run id. With ``over``: one row per
    group (a plain index), the group's params, ``runs`` (its size), ``status``, then ``X.mean``,
    ``X.std`` and ``X.n`` for every value column X listed in ``aggregated``."""

    frame: pd.DataFrame
    aggregated: tuple[str, ...] = ()
    over: tuple[str, ...] = ()
    modes: dict[str, str] = field(default_factory=dict)  # value column → "max" | "min": which end is best

    def best_rows(self) -> dict[str, int]:
        """Value column → the row position of its best value (by the metric's mode; the first on ties)."""
        import numpy as np

        found: dict[str, int] = {}
        for name, mode in self.modes.items():
            column = f"{name}.mean" if name in self.aggregated else name
            if column not in self.frame.columns or not len(self.frame):
                continue
            values = np.asarray(self.frame[column].to_numpy(dtype=float, na_value=np.nan), dtype=float)
            if bool(np.isnan(values).all()):
                continue
            found[name] = int(np.nanargmax(values) if mode == "max" else np.nanargmin(values))
        return found


def split_list(value: str | Sequence[str] | None) -> list[str]:
    """``"a,b"`` or ``["a", "b"]`` → ``["a", "b"]`` (blank items dropped)."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else [p for v in value for p in str(v).split(",")]
    return [item.strip() for item in items if item.strip()]


def parse_sort(value: str | Sequence[str] | None) -> list[tuple[str, bool]]:
    """``"-bleu,lr"`` → ``[("bleu", True), ("lr", False)]`` (True: descending)."""
    keys = []
    for item in split_list(value):
        descending = item.startswith("-")
        name = item[1:].strip() if descending or item.startswith("+") else item
        if not name:
            raise UsageError(f"--sort: {item!r} names no column (write -bleu for descending)")
        keys.append((name, descending))
    return keys


def _check(results: Results, option: str, name: str) -> None:
    problem = results.problem(name)
    if problem:
        raise UsageError(f"{option}: {problem}")


def compare(results: Results, *, cols: str | Sequence[str] | None = None, sort: str | Sequence[str] | None = None,
            over: str | Sequence[str] | None = None, all_params: bool = False,
            limit: int | None = None, every_metric: bool = False) -> Comparison:
    """The comparison table of ``results`` (already filtered). Raises UsageError for unknown names.
    By default a metric no shown run reports is left out; ``every_metric`` keeps it (empty)."""
    chosen = split_list(cols)
    keys = parse_sort(sort)
    over_names = split_list(over)
    if limit is not None and limit < 0:
        raise UsageError(f"--limit must be 0 or more, not {limit}")
    if over_names:
        return _over(results, over_names, chosen, keys, all_params, limit)
    for name in chosen:
        _check(results, "--cols", name)
    for name, _ in keys:
        _check(results, "--sort", name)
    frame = results.frame
    if not chosen:
        params = results.params if all_params else differing(frame, results.params)
        metrics = results.metric_columns if every_metric else reported_metrics(results)
        tuned = [c for c in ("trial", "trial_state", "best") if c in frame.columns]
        chosen = ["name", "status", *tuned, *mixed_stages(results), *labelled(results), *params, *metrics]
    import pandas as pd

    table = pd.DataFrame({name: results.column(name) for name in dict.fromkeys(chosen)}, index=frame.index)
    if keys:
        order = sort_order([(results.column(name), descending) for name, descending in keys])
        table = table.iloc[order]
    if limit is not None:
        table = table.iloc[:limit]
    return Comparison(table, modes=metric_modes(results, [str(c) for c in table.columns]))


def _over(results: Results, over: list[str], chosen: list[str], keys: list[tuple[str, bool]], all_params: bool,
          limit: int | None) -> Comparison:
    import numpy as np
    import pandas as pd

    for name in over:
        if name not in results.params:
            raise UsageError(f"--over: {name!r} is not a param of {results.experiment}"
                             f"{suggestions(name, results.params)} (params: {', '.join(results.params) or 'none'})")
    frame = results.frame
    groups = [p for p in (results.params if all_params else differing(frame, results.params)) if p not in over]
    groups = [*mixed_stages(results), *groups]  # final runs never fold into the sweep's
    values: list[str] = []
    show_status = not chosen
    for name in chosen:
        _check(results, "--cols", name)
        if name in over:
            raise UsageError(f"--cols: {name!r} is the param --over aggregates; it has no single value per row")
        if name in results.params or name == "stage":
            if name not in groups:
                groups.append(name)
        elif name in PER_RUN_ONLY:
            raise UsageError(f"--cols: {name!r} differs from run to run: with --over, pick params and metrics")
        elif name == "status":
            show_status = True
        else:
            values.append(name)
    if not chosen:
        values = reported_metrics(results)
    data = pd.DataFrame({name: results.column(name) for name in dict.fromkeys([*groups, *values])}, index=frame.index)
    data = data.reset_index(drop=True)
    for name in values:
        if not pd.api.types.is_numeric_dtype(data[name].dtype) or pd.api.types.is_bool_dtype(data[name].dtype):
            data[name] = pd.to_numeric(data[name], errors="coerce")
    status = frame["status"].to_numpy(dtype=object)
    grouper = [data[g] for g in groups] if groups else [pd.Series(np.zeros(len(data), dtype=np.int64))]
    grouped = data.groupby(grouper, dropna=False, sort=False)
    size = grouped.size()
    out = pd.DataFrame(index=size.index)
    taken = set(groups)
    runs_col = "runs" if "runs" not in taken else "runs#"
    out[runs_col] = size.to_numpy()
    if show_status:
        out["status" if "status" not in taken else "status#"] = _status_summary(grouped, status)
    aggregated = []
    for name in values:
        column = grouped[name]
        out[f"{name}.mean"] = column.mean().to_numpy(dtype=float, na_value=np.nan)
        out[f"{name}.std"] = column.std(ddof=1).to_numpy(dtype=float, na_value=np.nan)
        out[f"{name}.n"] = column.count().to_numpy(dtype=np.int64)
        aggregated.append(name)
    out = out.reset_index(drop=True)
    if groups:
        firsts = data.groupby(grouper, dropna=False, sort=False).head(1)[groups].reset_index(drop=True)
        out = pd.concat([firsts, out], axis=1)
    if keys:
        order = sort_order([(_over_key(out, name, aggregated), descending) for name, descending in keys])
        out = out.iloc[order].reset_index(drop=True)
    elif groups:  # groups in the order of their params' values
        out = out.iloc[sort_order([(out[name], False) for name in groups])].reset_index(drop=True)
    if limit is not None:
        out = out.iloc[:limit]
    return Comparison(out, tuple(aggregated), tuple(over), metric_modes(results, aggregated))


def metric_modes(results: Results, columns: Sequence[str]) -> dict[str, str]:
    """Which end is best (``max`` | ``min``) for each of ``columns`` that is a metric or a statistic of one."""
    modes = {}
    for name in columns:
        metric = results.metric(name)
        head, dot, stat = name.rpartition(".")
        if metric is None and dot and stat in ("last", "min", "max", "best"):
            metric = results.metric(head)
        if metric is not None:
            modes[name] = metric.mode
    return modes


def reported_metrics(results: Results) -> list[str]:
    """The metric columns some shown run has a value for (by default, a metric that only other stages
    report, e.g. an aggregate's, is not an empty column of every row)."""
    if not len(results.frame):
        return list(results.metric_columns)
    return [name for name in results.metric_columns if bool(results.column(name).notna().any())]


def labelled(results: Results) -> list[str]:
    """``tags`` and ``note`` when some shown run has one (``runyard tag``, ``note``); a param of that name
    keeps its column and its place among the params."""
    frame = results.frame
    return [c for c in ("tags", "note")
            if c not in results.params and c in frame.columns and bool((frame[c] != "").any())]


def mixed_stages(results: Results) -> list[str]:
    """``["stage"]`` when the runs shown belong to several stages (sweep and final), else ``[]``."""
    frame = results.frame
    return ["stage"] if "stage" in frame.columns and frame["stage"].nunique() > 1 else []


def _over_key(out: pd.DataFrame, name: str, aggregated: list[str]) -> pd.Series[Any]:
    if name in out.columns:
        return out[name]
    if name in aggregated:
        return out[f"{name}.mean"]
    valid = [str(c) for c in out.columns] + aggregated
    raise UsageError(f"--sort: with --over, sort by a column of the table{suggestions(name, valid)} "
                     f"(columns: {', '.join(valid)})")


def _status_summary(grouped: Any, status: Any) -> Any:
    """Per group: the status its runs share, or ``2 done, 1 failed``."""
    import numpy as np

    labels = np.empty(grouped.ngroups, dtype=object)
    group_ids = grouped.ngroup().to_numpy()
    first_index = np.full(grouped.ngroups, -1, dtype=np.int64)
    seen = np.unique(group_ids, return_index=True)
    first_index[seen[0]] = seen[1]
    labels[:] = status[first_index]
    same = np.ones(grouped.ngroups, dtype=bool)
    differs = status != labels[group_ids]
    same[np.unique(group_ids[differs])] = False
    for group in np.nonzero(~same)[0]:
        members = status[group_ids == group]
        kinds, counts = np.unique(members.astype(str), return_counts=True)
        labels[group] = ", ".join(f"{c} {k}" for k, c in sorted(zip(kinds, counts, strict=True), key=lambda x: -x[1]))
    return labels


def sort_order(keys: Sequence[tuple[pd.Series[Any], bool]]) -> Any:
    """Row positions sorted by several keys (stable; missing values last in both directions)."""
    import numpy as np
    import pandas as pd

    n = len(keys[0][0]) if keys else 0
    order = np.arange(n)
    for series, descending in reversed(keys):
        values = pd.Series(series.to_numpy()[order]) if len(series) else pd.Series([], dtype=object)
        try:
            ranked = values.sort_values(ascending=not descending, kind="stable", na_position="last")
        except TypeError:  # mixed numbers and text: compare as text
            text = values.map(lambda v: v if v is None or v != v else str(v))
            ranked = text.sort_values(ascending=not descending, kind="stable", na_position="last")
        order = order[ranked.index.to_numpy()]
    return order
