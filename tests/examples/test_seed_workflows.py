"""The seed workflows of ``examples/``, end to end with the real ``runyard`` (subprocesses, a SQLite store):
an mlrunner ``params.yaml`` unchanged, a curifactory-style cached pipeline with an aggregate, a gobbli-style
benchmark selected on valid then tested, a hyperspace-style queue fed from a notebook-like script."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from run.conftest import Project


def test_an_mlrunner_params_file_runs_unchanged(example: Callable[[str], Project]) -> None:
    project = example("mlrunner")
    first = project.run("run", "params.yaml", "--fake-gpus")
    assert first.code == 0, first
    by_step = project.by_step("mlrunner")
    assert {step: len(execs) for step, execs in by_step.items()} == {"train": 5, "avg": 5, "test": 5}
    runs = {r["name"] for r in json.loads(project.run("ls", "mlrunner", "--json").stdout)}
    assert runs == {"default", "norm=new", "lr=0.05", "lr=0.05,norm=new", "early-stop=true"}
    log = project.run("logs", "norm=new", "--step", "test", "-e", "mlrunner")
    assert log.code == 0 and "BLEU4 = 33.60" in log.stdout, log
    stopped = project.run("show", "early-stop=true", "-e", "mlrunner", "--json")
    train = next(s for s in json.loads(stopped.stdout)["steps"] if s["name"] == "train")
    assert " ".join(train["command"].split()).endswith("--normalization batch --early-stop")
    again = project.run("run", "params.yaml", "--fake-gpus")
    assert again.code == 0 and "everything is cached, nothing to run" in again.stdout, again


def test_a_cached_pipeline_with_an_aggregate(example: Callable[[str], Project]) -> None:
    project = example("pipeline")
    assert project.run("run").code == 0
    counts = {step: len(execs) for step, execs in project.by_step("pipeline").items()}
    assert counts == {"load_data": 1, "featurize": 2, "fit": 8, "report": 1}
    report = next(Path(ex.folder) for ex in project.executions("pipeline") if ex.step == "report")
    assert (report / "out" / "report.md").read_text().count("\n| ") == 4  # model × features
    before = {ex.key: ex.started for ex in project.executions("pipeline")}
    more = project.run("run", "seed=1,2,3")  # a third seed: only its fits and a new report run
    assert more.code == 0, more
    after = project.executions("pipeline")
    new = sorted(ex.step for ex in after if ex.key not in before)
    assert new == ["fit"] * 4 + ["report"]
    assert all(ex.started == before[ex.key] for ex in after if ex.key in before)  # nothing ran twice


def test_a_benchmark_selected_on_valid_then_tested(example: Callable[[str], Project]) -> None:
    project = example("benchmark")
    assert project.run("run").code == 0
    rows = json.loads(project.run("compare", "--stage", "all", "--format", "json").stdout)
    sweep = [r for r in rows if r["stage"] == "sweep"]
    finals = {r["model"]: r for r in rows if r["stage"] == "final"}
    best_knn = max((r for r in sweep if r["model"] == "knn"), key=lambda r: r["valid_acc"])
    assert set(finals) == {"knn", "majority"} and finals["knn"]["k"] == best_knn["k"]
    assert all(0 <= r["test_acc"] <= 1 for r in finals.values())
    assert all(r.get("test_acc") is None for r in sweep)  # the test split is scored once, by the finals only


def test_a_queue_fed_from_a_notebook(example: Callable[[str], Project]) -> None:
    project = example("queue")
    assert project.run("submit").code == 0
    explore = [sys.executable, "explore.py"]
    for expected in (9, 17):
        worker = project.run("worker", "--burst", "-j", "2")
        assert worker.code == 0 and f"{expected - 9 or 9} done" in worker.stdout, worker
        cell = subprocess.run(explore, cwd=project.root, env=project.env(), capture_output=True, text=True,
                              timeout=120, check=False)
        assert cell.returncode == 0 and cell.stdout.startswith(f"{expected} runs done"), cell
        assert "8 new runs" in cell.stdout
    losses = [r["loss"] for r in json.loads(project.run("compare", "--format", "json").stdout) if r.get("loss")]
    assert len(losses) == 17 and min(losses) < 0.1  # the second round found a better point than the grid's
