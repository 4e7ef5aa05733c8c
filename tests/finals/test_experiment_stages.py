"""``runyard.Experiment`` with ``aggregate=`` and ``select=``: the textclass study defined in Python, a then step
defined in the test itself (pickled by value, like a notebook's), the final runs recorded as from the CLI."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import runyard

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "textclass"


@pytest.fixture
def textclass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv("RUNYARD_HOME", raising=False)
    monkeypatch.delenv("RUNYARD_STORE", raising=False)
    root = tmp_path / "textclass"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("__pycache__", ".runyard"))
    monkeypatch.syspath_prepend(str(root))
    for name in [m for m in sys.modules if m == "textclass" or m.startswith("textclass.")]:
        monkeypatch.delitem(sys.modules, name)
    yield root


def test_experiment_with_aggregate_and_select(textclass: Path, tmp_path: Path) -> None:
    from textclass import data, model, report  # type: ignore[import-not-found]

    def evaluate_here(prep: dict[str, Any], retrain: dict[str, Any]) -> dict[str, float]:
        """Defined in the test: the step's process cannot import it, so it goes by value."""
        weights = retrain["weights"]
        return {"test_acc": model.accuracy(weights, prep["test"], str(retrain["features"]))}

    exp = runyard.Experiment(
        "tc-api", {"prep": data.prepare, "train": model.train},
        params={"features": "unigram", "lr": 0.1, "seed": 1},
        sweeps={"grid": {"features": ["unigram", "bigram"], "lr": [0.05, 0.5], "seed": [1, 2]}},
        metrics={"val_acc": {"step": "train"}, "test_acc": {"step": "test"}, "runs_seen": {"step": "summary"}},
        aggregate={"summary": {"call": report.summarize, "uses": ["val_acc"]}},
        select={"metric": "val_acc", "by": ["features"], "over": ["seed"],
                "then": {"retrain": model.retrain, "test": evaluate_here}},
        folder=textclass, home=tmp_path / "home")
    runs = exp.run(quiet=True, jobs=2)
    assert len(runs) == 8 + 4  # sweep and final runs (aggregate runs only when asked for)
    runs.yard.close()
    with runyard.open(tmp_path / "home") as yard:
        frame = yard.runs("tc-api").df
        finals = frame[frame["stage"] == "final"]
        assert len(finals) == 4 and finals["test_acc"].between(0.5, 1).all()
        assert set(finals["origin"]) <= set(frame[frame["stage"] == "sweep"].index)
        assert list(yard.runs("tc-api", stage="aggregate").df["runs_seen"]) == [8.0]
        before = {r.key: r.started for r in yard.store.executions("tc-api")}
    exp.run(quiet=True).yard.close()  # everything cached, the final stage too
    with runyard.open(tmp_path / "home") as yard:
        assert {r.key: r.started for r in yard.store.executions("tc-api")} == before
