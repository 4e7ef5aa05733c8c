"""A curifactory-style pipeline as call steps: each stage's output is cached by the params it takes, so
sweeping the model re-uses the data and the features, and an aggregate compares every run at the end."""

from __future__ import annotations

import random
from pathlib import Path

Rows = list[tuple[list[float], int]]


def load_data(dataset: str = "blobs", rows: int = 120) -> Rows:
    """Two noisy blobs in 2-d (the label is the blob)."""
    rng = random.Random(dataset)
    return [([rng.gauss(label * 2.0, 1.0), rng.gauss(label, 1.0)], label)
            for label in (0, 1) for _ in range(rows // 2)]


def featurize(load_data: Rows, squares: bool = False) -> Rows:
    """The points, with their squares added when ``squares``."""
    return [(x + [v * v for v in x] if squares else x, y) for x, y in load_data]


def fit(featurize: Rows, model: str = "centroid", seed: int = 1) -> dict[str, float]:
    """Hold out a seeded third, fit ``model`` (nearest centroid or 1-nearest neighbour), report accuracy."""
    rows = list(featurize)
    random.Random(seed).shuffle(rows)
    cut = len(rows) // 3
    test, train = rows[:cut], rows[cut:]
    if model == "centroid":
        centres = {label: [sum(c) / len(c) for c in zip(*(x for x, y in train if y == label), strict=True)]
                   for label in (0, 1)}
        guess = [min(centres, key=lambda lab: _distance(x, centres[lab])) for x, _ in test]
    else:
        guess = [min(train, key=lambda row: _distance(x, row[0]))[1] for x, _ in test]
    return {"acc": sum(g == y for g, (_, y) in zip(guess, test, strict=True)) / len(test)}


def _distance(a: list[float], b: list[float]) -> float:
    return sum((p - q) ** 2 for p, q in zip(a, b, strict=True))


def report(runs, out: Path) -> dict[str, float]:  # runs: the run table, a pandas DataFrame
    """The aggregate: mean accuracy per model and features over seeds, as a Markdown table in out/."""
    table = runs.groupby(["model", "squares"])["acc"].mean().reset_index()
    lines = ["| model | squares | mean acc |", "|---|---|---|"]
    lines += [f"| {r.model} | {r.squares} | {r.acc:.3f} |" for r in table.itertuples()]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return {"best_mean_acc": float(table["acc"].max())}
