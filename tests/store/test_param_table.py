"""The params of many runs as one DataFrame: the pyarrow path builds exactly the frame pandas builds."""

from __future__ import annotations

import json
import random
from typing import Any

import pandas as pd
import pytest

from runyard.store.param_table import param_frame

CASES: dict[str, list[dict[str, Any]]] = {
    "plain": [{"lr": 0.1, "seed": 1, "norm": "batch", "early": True}, {"lr": 0.01, "seed": 2, "norm": "layer",
                                                                         "early": False}],
    "gaps": [{"a": "x", "b": 1, "c": 1.5}, {"d": True}],
    "nulls": [{"a": "x", "b": None}, {"a": None, "b": 2}],
    "int and float": [{"a": 1}, {"a": 2.5}],
    "bool and int": [{"a": True}, {"a": 1}],
    "text and number": [{"a": "1"}, {"a": 1}],
    "dates as text": [{"a": "2024-05-01"}, {"a": "2024-05-02 12:00:00"}],
    "nested": [{"a": [1, 2], "b": {"c": 1}}, {"a": [3], "b": {"c": 2}}],
    "beyond 64 bits": [{"a": 2**64}, {"a": 1}],
    "large int and float": [{"a": -2**63}, {"a": 0.5}],
    "int64 edges": [{"a": 2**63 - 1}, {"a": -2**63}],
    "booleans with a gap": [{"a": True}, {}],
    "only nulls": [{"a": None}, {"a": None}],
    "nan": [{"a": 1.5}, {"a": float("nan")}],
    "odd text": [{"a": "é\u2028\\\"x"}, {"a": ""}],
    "odd names": [{"a b": 1, "é": "x", "": 2}, {"a b": 2, "é": "y", "": 3}],
    "floats": [{"a": 0.1}, {"a": 1e-300}, {"a": -0.0}, {"a": 5e-324}, {"a": 1.7976931348623157e308}],
}


def _lines(rows: list[dict[str, Any]]) -> str:
    """The params as the store keeps them: canonical JSON, one run per line."""
    return "\n".join(json.dumps(row, sort_keys=True, separators=(",", ":")) for row in rows)


def _expected(lines: str) -> pd.DataFrame:
    return pd.DataFrame([json.loads(line) for line in lines.split("\n")])


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_frame_is_the_one_pandas_builds(name: str) -> None:
    lines = _lines(CASES[name])
    pd.testing.assert_frame_equal(param_frame(lines), _expected(lines))


def test_many_random_runs() -> None:
    rng = random.Random(7)
    rows = [{"i": i, "x": rng.random() * 10 ** rng.randint(-20, 20), "w": f"w{rng.randrange(9)}",
             "b": bool(i % 2), "n": rng.randrange(-10**15, 10**15)} for i in range(5_000)]
    lines = _lines(rows)
    pd.testing.assert_frame_equal(param_frame(lines), _expected(lines))


def test_no_runs() -> None:
    assert param_frame("").shape == (0, 0)
