"""examples/textclass end to end, copied under tmp_path: one shared data-prep step, a 2 × 2 grid over three
seeds, validation accuracy over seeds, the best config per feature set retrained and tested through
``select:``, an aggregate summary; a second run does nothing; editing the training function re-runs the
training and what follows, never the data preparation."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from run.conftest import Project

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "textclass"


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.delenv("RUNYARD_HOME", raising=False)
    monkeypatch.delenv("RUNYARD_STORE", raising=False)
    root = tmp_path / "textclass"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("__pycache__", ".runyard"))
    return Project(tmp=tmp_path, root=root, home=tmp_path / "home", rec=tmp_path / "rec.jsonl")


def _started(proj: Project) -> dict[str, float | None]:
    return {ex.key: ex.started for ex in proj.executions("textclass")}


def test_the_textclass_study(example: Project) -> None:
    first = example.run("run", timeout=600)
    assert first.code == 0, first
    by_step = example.by_step("textclass")
    assert {step: len(execs) for step, execs in by_step.items()} == \
        {"prep": 1, "train": 12, "summary": 1, "retrain": 6, "test": 6}
    assert all(ex.status.value == "done" for execs in by_step.values() for ex in execs)
    prep = by_step["prep"][0]
    assert prep.attempts == 1
    with example.store() as store:
        runs = store.runs("textclass")
    sweep = [r for r in runs if r.stage == "sweep"]
    finals = [r for r in runs if r.stage == "final"]
    assert len(sweep) == 12 and all(dict(r.steps)["prep"] == prep.key for r in sweep)  # one prep, 12 runs

    # validation accuracy over seeds: one row per config, n = 3
    over = json.loads(example.run("compare", "--over", "seed", "--stage", "sweep", "--format", "json").stdout)
    assert len(over) == 4 and all(row["val_acc"]["n"] == 3 for row in over)
    best = {}
    for row in over:
        if row["features"] not in best or row["val_acc"]["mean"] > best[row["features"]]["val_acc"]["mean"]:
            best[row["features"]] = row

    # the best lr per feature set, all three seeds, retrained and tested
    assert len(finals) == 6
    sweep_by_id = {r.id: r for r in sweep}
    for run in finals:
        origin = sweep_by_id[run.origin or ""]
        assert run.name == f"final-{origin.name}" and dict(run.params) == dict(origin.params)
        assert run.params["lr"] == best[str(run.params["features"])]["lr"]
    assert sorted(str(r.params["seed"]) for r in finals) == ["1", "1", "2", "2", "3", "3"]
    tested = json.loads(example.run("compare", "--stage", "final", "--format", "json").stdout)
    assert len(tested) == 6 and all(0.5 < row["test_acc"] <= 1 for row in tested)
    assert "select: best val_acc (max) per features, mean over seed among 12 runs" in first.stdout

    # the aggregate: the run table of the 12 runs, a summary and its metric
    summary = by_step["summary"][0]
    with open(Path(summary.folder) / "runs.csv", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 12 and {"features", "lr", "seed", "val_acc"} <= set(table[0])
    assert (Path(summary.folder) / "out" / "summary.txt").exists()
    aggregate = json.loads(example.run("compare", "--stage", "aggregate", "--format", "json").stdout)
    top = max(row["val_acc"]["mean"] for row in over)
    assert aggregate[0]["best_mean_val_acc"] == pytest.approx(top)

    # a second run does nothing
    started = _started(example)
    second = example.run("run", timeout=600)
    assert second.code == 0, second
    assert second.stdout.count("everything is cached, nothing to run") == 2
    assert _started(example) == started

    # editing only the training function: plan says why, then training and what follows run again
    model = example.root / "textclass" / "model.py"
    source = model.read_text(encoding="utf-8")
    doc = '    """Fit on the training split; the validation accuracy is the result (and a metric)."""'
    edited = source.replace(doc, doc + '\n    assert prep["train"], "no training data"')
    assert edited != source
    model.write_text(edited, encoding="utf-8")
    plan = json.loads(example.run("plan", "--json").stdout)
    reasons = {(step["name"], step["reason"]["kind"]) for run in plan["runs"] for step in run["steps"]}
    assert reasons == {("prep", "cached"), ("train", "code changed"), ("summary", "upstream changed")}
    third = example.run("run", timeout=600)
    assert third.code == 0, third
    after = example.by_step("textclass")
    assert after["prep"][0].started == prep.started  # the data preparation never ran again
    assert len(after["train"]) == 24 and len(after["summary"]) == 2
    assert all(ex.status.value == "done" for ex in after["train"])
    new_final = {ex.key for ex in after["retrain"]} - {ex.key for ex in by_step["retrain"]}
    assert len(new_final) == 6  # retrain lives in the edited module: its code changed too
