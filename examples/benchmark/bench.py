"""A gobbli-style benchmark: several models, each with its own hyperparameters, tuned on the validation
split; the best configuration of each model is then evaluated once on the test split."""

from __future__ import annotations

import random
from collections import Counter

Row = tuple[float, int]
Splits = dict[str, list[Row]]


def split(rows: int = 150, noise: float = 0.6) -> Splits:
    """A 1-d task (label 1 when x > 0, with label noise near 0), split train / valid / test."""
    rng = random.Random(0)
    data = []
    for _ in range(rows):
        x = rng.uniform(-1, 1)
        data.append((x, int(x + rng.gauss(0, noise) * 0.3 > 0)))
    third = rows // 3
    return {"train": data[:third], "valid": data[third:2 * third], "test": data[2 * third:]}


def _predict(train: list[Row], x: float, model: str, k: int) -> int:
    if model == "majority":
        return Counter(y for _, y in train).most_common(1)[0][0]
    near = sorted(train, key=lambda row: abs(row[0] - x))[:k]
    return Counter(y for _, y in near).most_common(1)[0][0]


def _accuracy(train: list[Row], rows: list[Row], model: str, k: int) -> float:
    return sum(_predict(train, x, model, k) == y for x, y in rows) / len(rows)


def fit(split: Splits, model: str = "knn", k: int = 1) -> dict[str, float]:
    """Fit on train, score on valid: the metric the selection ranks by."""
    return {"valid_acc": _accuracy(split["train"], split["valid"], model, k)}


def test(split: Splits, model: str = "knn", k: int = 1) -> dict[str, float]:
    """The selected configuration, fit on train + valid and scored once on test."""
    return {"test_acc": _accuracy(split["train"] + split["valid"], split["test"], model, k)}
