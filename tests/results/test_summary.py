"""The table ``runyard run`` ends with, for a sweep larger than it shows: the best runs first and the
count of all (a real SQLite store, filled as runyard fills it)."""
from __future__ import annotations

from pathlib import Path

from analyze.conftest import SPEC, Project
from runyard.analyze.formats import plain_table
from runyard.app.results import SUMMARY_BEST, sweep_summary


def test_a_large_sweep_shows_its_best_runs(tmp_path: Path) -> None:
    spec = dict(SPEC, sweeps={"main": {"lr": [round(0.01 * i, 2) for i in range(1, 26)]}})
    proj = Project(tmp_path, spec)
    try:
        proj.finish_all()
        for run in proj.plan.runs:
            proj.log(run, "train", loss=[1.0, 1.0 - run.params["lr"]])
            proj.log(run, "test", bleu=100 * abs(run.params["lr"] - 0.12))
        summary = sweep_summary(proj.store, "norm", ["loss", "bleu"])
    finally:
        proj.close()
    assert summary is not None and summary.metric == "loss" and summary.total == 25
    frame = summary.table.frame
    assert list(frame.columns) == ["name", "status", "lr", "loss"]
    assert list(frame["lr"]) == [round(0.01 * i, 2) for i in range(25, 25 - SUMMARY_BEST, -1)]  # loss: min is best
    lines = plain_table(summary.table, mark=True).splitlines()
    assert lines[1].endswith(" *") and not any(line.endswith("*") for line in lines[2:])


def test_no_metrics_no_table(tmp_path: Path) -> None:
    proj = Project(tmp_path, SPEC)
    try:
        proj.finish_all()
        assert sweep_summary(proj.store, "norm", ["bleu"]) is None
    finally:
        proj.close()
