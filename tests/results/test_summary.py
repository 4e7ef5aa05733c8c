"""The table ``runyard run`` ends with, for a sweep larger than it shows: the best runs first and the
count of all, and a report's charts the best curves (a real SQLite store, filled as runyard fills it)."""

from __future__ import annotations

from pathlib import Path

from analyze.conftest import SPEC, Project
from runyard.analyze.formats import plain_table
from runyard.app.results import MAX_CURVES, SUMMARY_BEST, report_data, sweep_summary
from runyard.report import report_page


def test_a_large_sweep_shows_its_best_runs(tmp_path: Path) -> None:
    spec = dict(SPEC, sweeps={"main": {"lr": [round(0.01 * i, 2) for i in range(1, 26)]}})
    proj = Project(tmp_path, spec)
    try:
        proj.finish_all()
        for run in proj.plan.runs:
            proj.log(run, "train", loss=[1.0, 1.0 - run.params["lr"]])
            proj.log(run, "test", bleu=100 * abs(run.params["lr"] - 0.12))
        summary = sweep_summary(proj.store, "norm", ["loss", "bleu"])
        data = report_data(proj.store, "norm")
    finally:
        proj.close()
    assert data.thinned == {"bleu": 25, "loss": 25} and len(data.metrics["loss"]) == MAX_CURVES
    name_of = {run.params["lr"]: run.name for run in proj.plan.runs}  # lr=0.1 is the default run
    assert sorted(c.label for c in data.metrics["loss"]) == sorted(
        name_of[round(0.01 * i, 2)] for i in range(25, 25 - MAX_CURVES, -1))  # the lowest last losses
    assert f"the {MAX_CURVES} best of 25 curves (by last value)" in report_page(data)
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
