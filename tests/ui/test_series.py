"""Series cut down for charts: min/max per bucket keeps every spike, within the asked number of points."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

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


def envelope_cases(url: str) -> None:
    from runyard.model import Metric
    from runyard.store import open_store
    from runyard.store.base import Store

    with open_store(url) as store:
        values = [float(np.sin(i / 50.0)) for i in range(5000)]
        values[777] = float("nan")
        store.log_metrics("k" * 64, [Metric("loss", v, step=3 * i + 10, time=float(i)) for i, v in enumerate(values)])
        store.log_metrics("k" * 64, [Metric("nostep", 1.0, time=1.0)])
        found = store.metric_envelope("k" * 64, "loss", 100)
        assert found == Store.metric_envelope(store, "k" * 64, "loss", 100)  # the database's = the plain one
        assert found is not None and len(found) == 100 and sum(row[4] for row in found) == 5000
        assert found[0][0] == 10 and found[-1][1] == 3 * 4999 + 10
        finite = [v for v in values if v == v]
        assert min(r[2] for r in found if r[2] is not None) == min(finite)
        assert max(r[3] for r in found if r[3] is not None) == max(finite)
        assert store.metric_envelope("k" * 64, "nostep", 10) is None
        assert store.metric_envelope("k" * 64, "nothing", 10) == []


def test_the_store_cuts_a_long_series_in_the_database_sqlite(tmp_path: Path) -> None:
    envelope_cases(f"sqlite:///{tmp_path / 'runyard.db'}")


@pytest.mark.postgres
def test_the_store_cuts_a_long_series_in_the_database_postgres(pg_url: str) -> None:
    envelope_cases(pg_url)
