"""The serializer contract suite (runyard.testing.serializer_contract) for every built-in serializer and for
one registered here, as a user registers and tests their own."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import runyard
from runyard.layout import ResultPaths
from runyard.serializers import JSON, NONE, NPY, PARQUET, PICKLE, TORCH, Serializer, load_result, save_result
from runyard.testing.serializer_contract import Same, SerializerContract


# --- a serializer of our own, registered at import time (a fresh process imports this module to load) ---
class Vocabulary:
    """Tokens, one per line in the saved file."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.tokens == other.tokens

    __hash__ = None  # type: ignore[assignment]


def save_vocabulary(value: Vocabulary, path: str) -> dict[str, Any]:
    with open(path, "w", encoding="utf-8") as handle:
        for token in value.tokens:
            if "\n" in token:
                raise ValueError(f"a token holds a line break: {token!r}")
            handle.write(token + "\n")
    return {"tokens": len(value.tokens)}


def load_vocabulary(path: str) -> Vocabulary:
    with open(path, encoding="utf-8") as handle:
        return Vocabulary(handle.read().splitlines())


VOCABULARY = runyard.serializer(Vocabulary, save=save_vocabulary, load=load_vocabulary, name="vocabulary",
                                ext=".txt", meta={"format": 1})


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)

    __hash__ = None  # type: ignore[assignment]


class TestVocabularySerializer(SerializerContract):
    @pytest.fixture
    def serializer(self) -> Serializer:
        return VOCABULARY

    @pytest.fixture
    def values(self) -> Sequence[Any]:
        return [Vocabulary(["the", "cat", "sat"]), Vocabulary([]), Vocabulary(["été", "日本"])]

    @pytest.fixture
    def failing_values(self) -> Sequence[Any]:
        return [Vocabulary(["two\nlines"])]


# --- the built-ins -------------------------------------------------------------------------------------
class TestNoneSerializer(SerializerContract):
    @pytest.fixture
    def serializer(self) -> Serializer:
        return NONE

    @pytest.fixture
    def values(self) -> Sequence[Any]:
        return [None]


class TestJsonSerializer(SerializerContract):
    @pytest.fixture
    def serializer(self) -> Serializer:
        return JSON

    @pytest.fixture
    def values(self) -> Sequence[Any]:
        return [{"a": [1, 2.5, None, True], "b": {"c": "text"}}, [], "just text", 3, 0.1, False, {"é": "日本"}]

    @pytest.fixture
    def same(self) -> Same:
        return lambda loaded, expected: _same_json(loaded, expected)


def _same_json(loaded: Any, expected: Any) -> bool:
    """Equal, with the same type at every level (JSON must not turn 1.0 into 1, nor True into 1)."""
    if type(loaded) is not type(expected):
        return False
    if isinstance(expected, dict):
        return loaded.keys() == expected.keys() and all(_same_json(loaded[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        return len(loaded) == len(expected) and all(map(_same_json, loaded, expected))
    return bool(loaded == expected)


class TestPickleSerializer(SerializerContract):
    @pytest.fixture
    def serializer(self) -> Serializer:
        return PICKLE

    @pytest.fixture
    def values(self) -> Sequence[Any]:
        return [(1, {2, 3}, Point(1, 2)), {1: "int key"}, Point(3, 4), frozenset({"a"})]

    @pytest.fixture
    def failing_values(self) -> Sequence[Any]:
        return [(b"x" * 1_000_000, lambda: 0)]  # pickle writes the bytes, then cannot pickle the lambda


class TestParquetSerializer(SerializerContract):
    @pytest.fixture
    def serializer(self) -> Serializer:
        return PARQUET

    @pytest.fixture
    def values(self) -> Sequence[Any]:
        return [pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]}), pd.Series([1.5, 2.5], name="speed"),
                pd.DataFrame({"t": pd.to_datetime(["2024-01-01", "2024-06-30"])}), pd.Series([1, 2])]

    @pytest.fixture
    def failing_values(self) -> Sequence[Any]:
        return [pd.DataFrame({"mixed": [1, "x"]})]  # arrow cannot make one column of both

    @pytest.fixture
    def same(self) -> Same:
        return lambda loaded, expected: (type(loaded) is type(expected) and loaded.equals(expected)
                                         and getattr(loaded, "name", None) == getattr(expected, "name", None))


class TestNpySerializer(SerializerContract):
    @pytest.fixture
    def serializer(self) -> Serializer:
        return NPY

    @pytest.fixture
    def values(self) -> Sequence[Any]:
        return [np.arange(6, dtype=np.float32).reshape(2, 3), np.array([], dtype=np.int64), np.array(["a", "bc"]),
                np.array(7)]

    @pytest.fixture
    def same(self) -> Same:
        return lambda loaded, expected: (type(loaded) is np.ndarray and loaded.dtype == expected.dtype
                                         and np.array_equal(loaded, expected))


class TestTorchSerializer(SerializerContract):
    @pytest.fixture
    def serializer(self) -> Serializer:
        pytest.importorskip("torch", reason="torch is not installed (it is not a dev dependency)")
        return TORCH

    @pytest.fixture
    def values(self, serializer: Serializer) -> Sequence[Any]:
        import torch

        torch.manual_seed(0)
        return [torch.arange(6, dtype=torch.float32).reshape(2, 3), torch.nn.Linear(3, 2)]

    @pytest.fixture
    def same(self) -> Same:
        import torch

        def same(loaded: Any, expected: Any) -> bool:
            if type(loaded) is not type(expected):
                return False
            if isinstance(expected, torch.Tensor):
                return bool(torch.equal(loaded, expected))
            got, want = loaded.state_dict(), expected.state_dict()
            return got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)

        return same



def test_a_value_of_another_serializer_replaces_the_earlier_result_whole(tmp_path: Path) -> None:
    paths = ResultPaths(str(tmp_path))
    save_result(pd.DataFrame({"x": [1, 2]}), paths.folder)
    save_result({"x": [1, 2]}, paths.folder)
    assert sorted(str(p) for p in tmp_path.iterdir()) == sorted([paths.meta, paths.value(".json")])
    assert load_result(paths.folder) == {"x": [1, 2]}
