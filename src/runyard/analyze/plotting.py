"""Curves drawn with matplotlib (the ``plot`` extra): ``RunSet.plot`` in a notebook, ``runyard plot -o
x.png|x.svg``. Without matplotlib: :class:`MissingDependency` naming the extra to install."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from runyard.analyze.curves import Curve
from runyard.errors import MissingDependency


def pyplot(purpose: str) -> Any:
    """``matplotlib.pyplot``, with the non-interactive backend when no display is set up."""
    try:
        import matplotlib
    except ImportError:
        raise MissingDependency("matplotlib", "plot", purpose) from None
    import os

    if not os.environ.get("DISPLAY") and not os.environ.get("MPLBACKEND") and "ipykernel" not in _modules():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _modules() -> set[str]:
    import sys

    return set(sys.modules)


def draw(curves: Sequence[Curve], metric: str, *, title: str = "", ax: Any = None, purpose: str = "plotting") -> Any:
    """Draw ``curves`` on ``ax`` (default: a new figure); a group's band shaded. Returns the axes."""
    plt = pyplot(purpose)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    for curve in curves:
        label = curve.label if curve.runs == 1 else f"{curve.label} ({curve.runs} runs)"
        (line,) = ax.plot(curve.xs, curve.ys, label=label, linewidth=1.5)
        if curve.low and curve.high:
            ax.fill_between(curve.xs, curve.low, curve.high, color=line.get_color(), alpha=0.15, linewidth=0)
        if len(curve.xs) == 1 and math.isfinite(curve.ys[0]):
            ax.scatter(curve.xs, curve.ys, color=line.get_color())
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    if title:
        ax.set_title(title)
    if curves:
        ax.legend(fontsize="small", loc="best")
    ax.grid(alpha=0.3)
    return ax


def save(curves: Sequence[Curve], metric: str, path: str, *, title: str = "") -> None:
    """Write the chart to ``path`` (its suffix says the format: .png, .svg, .pdf ...)."""
    plt = pyplot(f"writing {path}")
    fig, ax = plt.subplots(figsize=(8, 4.5))
    try:
        draw(curves, metric, title=title, ax=ax)
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
