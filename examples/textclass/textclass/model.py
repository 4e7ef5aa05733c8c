"""Bag-of-words logistic regression trained by SGD, in plain Python.

``features``: ``unigram`` (words) or ``bigram`` (words and adjacent pairs). ``train`` fits on the
training split and reports validation accuracy; ``retrain`` fits the chosen config on train + valid;
``evaluate`` reports test accuracy of a retrained model.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence

Rows = Sequence[Sequence[object]]
EPOCHS = 8


def featurize(text: str, features: str) -> list[str]:
    words = text.split()
    if features == "bigram":
        return words + [f"{a}_{b}" for a, b in itertools.pairwise(words)]
    return words


def fit(rows: Rows, *, features: str, lr: float, seed: int) -> dict[str, float]:
    """Weights (with the bias under ``""``) after ``EPOCHS`` passes of SGD over ``rows`` in a seeded order."""
    rng = random.Random(seed)
    weights: dict[str, float] = {"": 0.0}
    order = list(range(len(rows)))
    for _ in range(EPOCHS):
        rng.shuffle(order)
        for index in order:
            text, label = rows[index]
            tokens = featurize(str(text), features)
            score = weights[""] + sum(weights.get(t, 0.0) for t in tokens)
            error = float(label) - 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, score))))
            weights[""] += lr * error
            for token in tokens:
                weights[token] = weights.get(token, 0.0) + lr * error
    return weights


def accuracy(weights: dict[str, float], rows: Rows, features: str) -> float:
    right = 0
    for text, label in rows:
        score = weights[""] + sum(weights.get(t, 0.0) for t in featurize(str(text), features))
        right += int((score > 0) == bool(label))
    return right / len(rows)


def train(prep: dict[str, Rows], features: str = "unigram", lr: float = 0.1, seed: int = 1) -> dict[str, float]:
    """Fit on the training split; the validation accuracy is the result (and a metric)."""
    weights = fit(prep["train"], features=features, lr=lr, seed=seed)
    return {"val_acc": accuracy(weights, prep["valid"], features)}


def retrain(prep: dict[str, Rows], features: str = "unigram", lr: float = 0.1,
            seed: int = 1) -> dict[str, object]:
    """Fit the selected config on train + valid; the model is the result."""
    rows = [*prep["train"], *prep["valid"]]
    return {"features": features, "weights": fit(rows, features=features, lr=lr, seed=seed)}


def evaluate(prep: dict[str, Rows], retrain: dict[str, object]) -> dict[str, float]:
    """Test accuracy of the retrained model."""
    weights = retrain["weights"]
    assert isinstance(weights, dict)
    return {"test_acc": accuracy(weights, prep["test"], str(retrain["features"]))}
