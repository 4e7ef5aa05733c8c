"""Metrics returned by ``call:`` steps or logged with ``runyard.log`` are usable by ``select:``, ``--where``,
``compare`` and ``runyard select`` without a ``metrics:`` entry. A ``select:`` on such a metric must say its
``mode:`` (the direction is unknown otherwise): without it the spec is an error naming the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .bug_cli import runyard

TRAIN_PY = """\
def train(lr: float = 0.1, seed: int = 1) -> dict:
    return {"acc": round(1 - abs(lr - 0.05), 6)}
"""
LOGGER_PY = """\
import sys
import runyard
runyard.log(loss=float(sys.argv[1]) * 2)
"""
SPEC = """\
experiment: undeclared
params: {lr: 0.1, seed: 1}
steps:
  train:
    call: train:train
  probe: python logger.py {lr}
sweeps:
  grid: {lr: [0.1, 0.05, 0.01]}
select:
  metric: acc
  mode: max
  then:
    final: echo final {lr}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "train.py").write_text(TRAIN_PY)
    (tmp_path / "logger.py").write_text(LOGGER_PY)
    (tmp_path / "runyard.yaml").write_text(SPEC)
    return tmp_path


def _names(stdout: str) -> list[str]:
    return [row["name"] for row in json.loads(stdout)]


def test_undeclared_metrics_rank_filter_and_compare(project: Path) -> None:
    home = project / "home"
    run = runyard("run", cwd=project, home=home)
    assert run.code == 0, run
    assert "all runs: lr=0.05  acc 1" in run.stdout  # select: ranked on the call step's returned metric
    listed = runyard("ls", "undeclared", "--json", cwd=project, home=home)
    assert listed.code == 0, listed
    finals = [r for r in json.loads(listed.stdout) if r.get("stage") == "final"]
    assert [r["params"]["lr"] for r in finals] == [0.05], listed.stdout
    where = runyard("compare", "undeclared", "--where", "loss < 0.15 and acc > 0.9", "--format", "json",
                    cwd=project, home=home)
    assert where.code == 0, where
    assert sorted(_names(where.stdout)) == ["lr=0.01", "lr=0.05"]
    ordered = runyard("compare", "undeclared", "--where", "stage == 'sweep'", "--sort", "-acc", "--format", "json",
                      cwd=project, home=home)
    assert ordered.code == 0, ordered
    assert _names(ordered.stdout) == ["lr=0.05", "lr=0.01", "default"]
    picked = runyard("select", "undeclared", "--metric", "loss", "--mode", "min", cwd=project, home=home)
    assert picked.code == 0, picked
    assert "best loss (min)" in picked.stdout and "all runs: lr=0.01  loss 0.02" in picked.stdout


def test_select_on_an_undeclared_metric_needs_its_mode(project: Path) -> None:
    (project / "runyard.yaml").write_text(SPEC.replace("  mode: max\n", ""))
    for command in ("plan", "run"):
        proc = runyard(command, cwd=project, home=project / "home")
        assert proc.code == 2, proc
        assert "runyard.yaml:10: select.metric: 'acc' is not a metric (metrics defined under metrics: none); " \
               "a metric returned by a call step or logged with runyard.log ranks too, given `mode: max` or " \
               "`mode: min` in select:" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (project / "home").exists()


def test_select_on_a_metric_no_run_reports_selects_nothing(project: Path) -> None:
    (project / "runyard.yaml").write_text(SPEC.replace("metric: acc", "metric: accuracy"))
    run = runyard("run", cwd=project, home=project / "home")
    assert run.code == 0, run
    assert "no run has a accuracy value to rank: nothing selected" in run.stdout
    assert "Traceback" not in run.stderr
