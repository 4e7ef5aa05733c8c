"""Best-of selection over a table of runs: the best run (or config) on a metric, per group of params.

Rules (the same for ``select:`` in a spec, ``runyard select`` and ``RunSet.best``):

- Only runs whose status is ``done`` and whose metric value (its last value) is a number count;
  failed, interrupted or unfinished runs and runs without a value (never reported, or NaN) are left
  out and listed with the reason.
- ``by``: one pick per distinct combination of these params (default: one pick overall).
- ``over``: runs that differ only in these params (seeds) form one config, scored by the mean of its
  runs' values; the best config's counted runs are all picked. Without ``over`` a config is one run.
- Ties (equal scores) go to the config whose first run name sorts first; the tie is reported.
- A group where no run counts gets no pick; it is reported.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runyard.analyze.compare import split_list
from runyard.analyze.where import suggestions
from runyard.errors import UsageError

if TYPE_CHECKING:
    from runyard.analyze.table import Results


@dataclass(frozen=True)
class Pick:
    """The best config of one group: ``group`` (the ``by`` values), its runs (ids and names, sorted by
    name), its ``score`` (the value, or the mean over its runs) and the configs it tied with."""

    group: dict[str, Any]
    run_ids: tuple[str, ...]
    run_names: tuple[str, ...]
    score: float
    config: dict[str, Any] = field(default_factory=dict)
    tied_with: tuple[str, ...] = ()


@dataclass(frozen=True)
class Selection:
    metric: str
    mode: str
    by: tuple[str, ...]
    over: tuple[str, ...]
    picks: tuple[Pick, ...]
    left_out: tuple[tuple[str, str], ...] = ()  # (run name, why)
    empty_groups: tuple[dict[str, Any], ...] = ()
    candidates: int = 0

    def lines(self) -> list[str]:
        """A plain-text account: what was ranked, each pick, ties, what was left out."""
        how = f"best {self.metric} ({self.mode})"
        if self.by:
            how += f" per {', '.join(self.by)}"
        if self.over:
            how += f", mean over {', '.join(self.over)}"
        out = [f"select: {how} among {self.candidates} run{'s' if self.candidates != 1 else ''}"]
        for pick in self.picks:
            where = ", ".join(f"{k}={_text(v)}" for k, v in pick.group.items()) or "all runs"
            score = f"{self.metric} {pick.score:.6g}"
            if self.over:
                score += f" (mean of {len(pick.run_ids)})"
            out.append(f"  {where}: {', '.join(pick.run_names)}  {score}")
            if pick.tied_with:
                out.append(f"    tie: {', '.join(pick.tied_with)} scored the same; picked the first by run name")
        for group in self.empty_groups:
            where = ", ".join(f"{k}={_text(v)}" for k, v in group.items()) or "all runs"
            out.append(f"  {where}: no run has a {self.metric} value to rank: nothing selected")
        if self.left_out:
            shown = ", ".join(f"{name} ({why})" for name, why in self.left_out[:8])
            more = f" and {len(self.left_out) - 8} more" if len(self.left_out) > 8 else ""
            out.append(f"  left out: {shown}{more}")
        return out


def _text(value: Any) -> str:
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _plain(value: Any) -> Any:
    """A frame value as a plain Python value (NaN and pandas NA → None; numpy scalars unwrapped)."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        import pandas as pd

        if value is pd.NA:
            return None
    except ImportError:  # pragma: no cover - pandas is there whenever a Results exists
        pass
    return value


def best(results: Results, metric: str, *, mode: str | None = None, by: str | Sequence[str] | None = None,
         over: str | Sequence[str] | None = None, declared: Collection[str] = ()) -> Selection:
    """Select from ``results`` (already restricted to the runs to rank). UsageError for unknown names;
    a ``declared`` metric (defined in the spec) that no run reported yet leaves every run out."""
    import numpy as np
    import pandas as pd

    problem = results.problem(metric)
    if problem and metric not in declared:
        raise UsageError(f"--metric: {problem}")
    if mode is not None and mode not in ("max", "min"):
        raise UsageError(f"--mode: {mode!r} is not a mode (max or min)")
    found = results.metric(metric)
    chosen_mode = mode or (found.mode if found is not None else "max")
    by_names, over_names = split_list(by), split_list(over)
    for option, names in (("--by", by_names), ("--over", over_names)):
        for name in names:
            if name not in results.params:
                raise UsageError(f"{option}: {name!r} is not a param of {results.experiment}"
                                 f"{suggestions(name, results.params)} (params: {', '.join(results.params) or 'none'})")
    both = set(by_names) & set(over_names)
    if both:
        raise UsageError(f"--over: {sorted(both)[0]!r} is also in --by: a param groups runs or is averaged over")
    frame = results.frame
    if problem:  # declared, never reported: no run has a value
        values = np.full(len(frame), math.nan)
    else:
        values = pd.to_numeric(results.column(metric), errors="coerce").to_numpy(dtype=float, na_value=math.nan)
    run_names = frame["name"].to_numpy(dtype=object)
    status = frame["status"].to_numpy(dtype=object)
    ids = frame.index.to_numpy(dtype=object)
    config_params = [p for p in results.params if p not in over_names]
    columns = {p: frame[p].to_numpy(dtype=object) for p in results.params}
    left_out: list[tuple[str, str]] = []
    groups: dict[str, dict[str, Any]] = {}
    configs: dict[str, dict[str, list[int]]] = {}  # group → config → row positions
    from runyard.spec.keys import canonical_json

    for row in range(len(frame)):
        group = {p: _plain(columns[p][row]) for p in by_names}
        gkey = canonical_json(group)
        groups.setdefault(gkey, group)
        configs.setdefault(gkey, {})
        if status[row] != "done":
            left_out.append((str(run_names[row]), str(status[row])))
            continue
        if math.isnan(values[row]):
            left_out.append((str(run_names[row]), f"no {metric} value"))
            continue
        ckey = canonical_json({p: _plain(columns[p][row]) for p in config_params})
        configs[gkey].setdefault(ckey, []).append(row)
    picks: list[Pick] = []
    empty: list[dict[str, Any]] = []
    sign = 1.0 if chosen_mode == "max" else -1.0
    for gkey, group in sorted(groups.items(), key=lambda item: item[0]):
        scored = []
        for rows in configs[gkey].values():
            rows = sorted(rows, key=lambda r: str(run_names[r]))
            score = float(sum(values[r] for r in rows) / len(rows))
            scored.append((score, rows))
        if not scored:
            empty.append(group)
            continue
        top = max(sign * s for s, _ in scored)
        winners = sorted((rows for s, rows in scored if sign * s == top), key=lambda rows: str(run_names[rows[0]]))
        rows = winners[0]
        picks.append(Pick(
            group=group, run_ids=tuple(str(ids[r]) for r in rows), run_names=tuple(str(run_names[r]) for r in rows),
            score=sign * top, config={p: _plain(columns[p][rows[0]]) for p in config_params},
            tied_with=tuple(str(run_names[w[0]]) for w in winners[1:])))
    return Selection(metric=metric, mode=chosen_mode, by=tuple(by_names), over=tuple(over_names), picks=tuple(picks),
                     left_out=tuple(left_out), empty_groups=tuple(empty),
                     candidates=sum(len(rows) for c in configs.values() for rows in c.values()))
