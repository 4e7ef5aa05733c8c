"""Long metric series cut down to what a chart can show: min/max per bucket, so no spike is lost.

A series of ``n`` points becomes at most ``points`` points: the x range is split into ``points // 2``
buckets of equal point count and each keeps its lowest and its highest value, in step order (a chart of
the result draws the same envelope as one of every point). Short series are returned unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MIN_POINTS = 4
MAX_POINTS = 20_000


def min_max(steps: Sequence[float] | Any, values: Sequence[float] | Any,
            points: int) -> tuple[list[float], list[float]]:
    """``(steps, values)`` sorted by step, at most ``points`` long (``points`` clamped to 4 … 20,000)."""
    import numpy as np

    points = max(MIN_POINTS, min(MAX_POINTS, int(points)))
    x = np.asarray(steps, dtype=float)
    y = np.asarray(values, dtype=float)
    if len(x) and bool(np.any(np.diff(x) < 0)):
        order = np.argsort(x, kind="stable")
        x, y = x[order], y[order]
    if len(x) <= points:
        return _plain(x), _plain(y)
    buckets = points // 2
    edges = np.linspace(0, len(x), buckets + 1).astype(np.int64)
    starts = edges[:-1]
    # NaN (a missing value) never wins a bucket's min or max while the bucket has a number
    low_src = np.where(np.isnan(y), np.inf, y)
    high_src = np.where(np.isnan(y), -np.inf, y)
    low_at = _arg_reduce(low_src, starts, np.minimum)
    high_at = _arg_reduce(high_src, starts, np.maximum)
    first = np.minimum(low_at, high_at)
    second = np.maximum(low_at, high_at)
    picked = np.empty(2 * buckets, dtype=np.int64)
    picked[0::2] = first
    picked[1::2] = second
    keep = np.ones(len(picked), dtype=bool)
    keep[1::2] = second != first
    picked = picked[keep]
    return _plain(x[picked]), _plain(y[picked])


def _arg_reduce(values: Any, starts: Any, ufunc: Any) -> Any:
    """The position of each bucket's extreme (``ufunc`` is numpy.minimum or maximum)."""
    import numpy as np

    extreme = ufunc.reduceat(values, starts)
    bucket = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(values))))
    hits = np.flatnonzero(values == extreme[bucket])
    # the first hit of each bucket
    hit_bucket = bucket[hits]
    firsts = np.unique(hit_bucket, return_index=True)[1]
    found = np.array(starts, dtype=np.int64)
    found[hit_bucket[firsts]] = hits[firsts]
    return found


def _plain(array: Any) -> list[float]:
    """Floats for JSON (NaN and infinities as None)."""
    import numpy as np

    out: list[Any] = array.astype(object).tolist()
    bad = ~np.isfinite(array)
    if bool(bad.any()):
        for i in np.flatnonzero(bad):
            out[int(i)] = None
    return out
