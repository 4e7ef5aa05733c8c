"""The study's summary: validation accuracy per config, mean over seeds, from the run table."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def summarize(runs: Any, out: Path) -> dict[str, float]:
    """``runs``: the run table (a pandas DataFrame, one row per sweep run). Writes ``summary.txt``."""
    configs = [c for c in ("features", "lr") if c in runs.columns]
    table = runs.groupby(configs)["val_acc"].agg(["mean", "std", "count"]).sort_values("mean", ascending=False)
    Path(out, "summary.txt").write_text(table.to_string() + "\n", encoding="utf-8")
    return {"best_mean_val_acc": float(table["mean"].iloc[0]), "runs_seen": float(len(runs))}
