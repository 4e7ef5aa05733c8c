"""Series cut down for charts: min/max per bucket keeps every spike, within the asked number of points."""

from __future__ import annotations

import numpy as np

from runyard.app.downsample import min_max


def test_a_million_points_become_at_most_two_thousand_keeping_the_extremes() -> None:
    rng = np.random.default_rng(0)
    steps = np.arange(1_000_000, dtype=float)
    values = rng.normal(size=1_000_000)
    values[123_457] = 50.0
    values[765_431] = -50.0
    xs, ys = min_max(steps, values, 2000)
    assert 1000 < len(xs) <= 2000 and xs == sorted(xs)
    assert max(ys) == 50.0 and min(ys) == -50.0
    assert 123_457.0 in xs and 765_431.0 in xs


def test_short_series_come_back_whole_and_sorted_and_nan_is_none() -> None:
    xs, ys = min_max([3, 1, 2], [30.0, float("nan"), 20.0], 2000)
    assert xs == [1.0, 2.0, 3.0] and ys == [None, 20.0, 30.0]
