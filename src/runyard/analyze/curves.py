"""Curves of a metric from its points (``RunSet.metrics``, long format): one per run, or one per group
of runs (the mean at each x, a band from mean - std to mean + std), thinned for drawing.

x is the training step when every point of a run has one, else the point's number (0, 1, 2 ...).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from runyard.analyze.table import Results

MAX_POINTS = 1000  # points per curve drawn: more are thinned (each bucket keeps its min and max)


@dataclass(frozen=True)
class Curve:
    label: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    low: tuple[float, ...] = ()  # with a band (a group's mean ± std): its lower and upper edges
    high: tuple[float, ...] = ()
    runs: int = 1  # runs behind the curve

    @property
    def last(self) -> float:
        """The last finite value (NaN when there is none)."""
        for value in reversed(self.ys):
            if math.isfinite(value):
                return value
        return math.nan


def curves_of(results: Results, points: pd.DataFrame, over: str | Sequence[str] | None = None) -> list[Curve]:
    """The curves of a metric's ``points`` (``RunSet.metrics``) of the runs of ``results``: one per run, or
    with ``over`` (params, e.g. ``"seed"``) one per group of runs that differ only in those: the mean at
    each x and the band mean ± std, labelled by the group's other differing params."""
    from runyard.analyze.compare import split_list
    from runyard.analyze.formats import human
    from runyard.analyze.table import differing
    from runyard.analyze.where import suggestions
    from runyard.errors import UsageError

    names = split_list(over)
    if not names:
        return run_curves(points)
    for name in names:
        if name not in results.params:
            raise UsageError(f"--over: {name!r} is not a param of {results.experiment}"
                             f"{suggestions(name, results.params)} (params: {', '.join(results.params) or 'none'})")
    frame = results.frame
    groups = [p for p in differing(frame, results.params) if p not in names]
    label_of = {run_id: ",".join(f"{g}={human(frame.at[run_id, g])}" for g in groups) or "all runs"
                for run_id in frame.index}
    return group_curves(points, label_of)


def _xs(frame: pd.DataFrame) -> list[float]:
    steps = frame["step"]
    if bool(steps.notna().all()) and len(steps):
        return [float(v) for v in steps.to_numpy(dtype=float)]
    return [float(i) for i in range(len(frame))]


def run_curves(points: pd.DataFrame) -> list[Curve]:
    """One curve per run (``points`` from ``RunSet.metrics``: ordered by run, then time)."""
    out = []
    for name, frame in points.groupby("name", sort=False):
        xs = _xs(frame)
        out.append(Curve(str(name), *thin(xs, [float(v) for v in frame["value"].to_numpy(dtype=float)])))
    return out


def group_curves(points: pd.DataFrame, label_of: Mapping[str, str]) -> list[Curve]:
    """One curve per label (``label_of``: run id → its group's label): at each x, the mean over the group's
    runs that have a point there, with mean ± std (ddof=1) as the band; groups sorted by label."""
    import pandas as pd

    if points.empty:
        return []
    frame = points.copy()
    frame["x"] = 0.0
    parts = []
    for _, run in frame.groupby("id", sort=False):
        run = run.copy()
        run["x"] = _xs(run)
        parts.append(run)
    frame = pd.concat(parts)
    frame["group"] = frame["id"].map(dict(label_of))
    out = []
    for label, group in sorted(frame.groupby("group", sort=False), key=lambda item: str(item[0])):
        stats = group.groupby("x")["value"].agg(["mean", "std"]).sort_index()
        means = [float(v) for v in stats["mean"].to_numpy(dtype=float)]
        stds = [0.0 if math.isnan(v) else float(v) for v in stats["std"].to_numpy(dtype=float)]
        xs = [float(v) for v in stats.index.to_numpy(dtype=float)]
        step = max(1, math.ceil(len(xs) / MAX_POINTS))
        keep = slice(None, None, step)
        out.append(Curve(str(label), tuple(xs[keep]), tuple(means[keep]),
                         tuple(m - s for m, s in zip(means[keep], stds[keep], strict=True)),
                         tuple(m + s for m, s in zip(means[keep], stds[keep], strict=True)),
                         runs=int(group["id"].nunique())))
    return out


def thin(xs: Sequence[float], ys: Sequence[float], most: int = MAX_POINTS) -> tuple[tuple[float, ...],
                                                                                    tuple[float, ...]]:
    """At most ``most`` points: the series cut into buckets, each keeping its smallest and largest value
    (in their order), so spikes stay visible."""
    if len(xs) <= most:
        return tuple(xs), tuple(ys)
    size = len(xs) / (most // 2)
    keep: list[int] = []
    for b in range(most // 2):
        lo, hi = int(b * size), min(len(xs), int((b + 1) * size))
        if lo >= hi:
            continue
        bucket = [i for i in range(lo, hi) if math.isfinite(ys[i])] or [lo]
        small = min(bucket, key=lambda i: ys[i])
        large = max(bucket, key=lambda i: ys[i])
        keep.extend(sorted({small, large}))
    return tuple(xs[i] for i in keep), tuple(ys[i] for i in keep)
