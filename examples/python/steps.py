"""A toy study in Python steps: fit a line by gradient descent, swept over learning rates and seeds.

`runyard run` (in this folder) runs runyard.yaml; `python notebook.py` does the same with runyard.Experiment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import runyard


@dataclass
class Train:
    lr: float = 0.1
    epochs: int = 50


def data(n: int = 200, noise: float = 0.1) -> np.ndarray:
    """Points around y = 3x + 0.5 (saved as .npy, shared by every run with the same n and noise)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, n)
    return np.stack([x, 3 * x + 0.5 + rng.normal(0, noise, n)])


def train(data: np.ndarray, cfg: Train, seed: int = 1) -> dict[str, float]:
    """Gradient descent on (w, b); logs the loss every epoch, returns the fit (metrics, and the result)."""
    w, b = np.random.default_rng(seed).normal(size=2)
    x, y = data
    for epoch in range(cfg.epochs):
        err = w * x + b - y
        w -= cfg.lr * 2 * float((err * x).mean())
        b -= cfg.lr * 2 * float(err.mean())
        runyard.log(step=epoch, loss=float((err**2).mean()))
    return {"w": float(w), "b": float(b)}


def evaluate(train: dict[str, float], data: np.ndarray) -> dict[str, float]:
    x, y = data
    return {"mse": float(((train["w"] * x + train["b"] - y) ** 2).mean())}
