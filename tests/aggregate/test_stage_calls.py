"""Aggregate and ``then`` steps that are Python functions (``call:``): the run table as a DataFrame, results of
the selected run's steps by parameter name, and their errors at load."""

from __future__ import annotations

import json

import pytest

from .conftest import Project, compare_json, files_under, write_job

STEPS_PY = '''
import json
from pathlib import Path


def summarize(runs, out, top=2):
    best = runs.sort_values("val_acc", ascending=False).head(top)
    (Path(out) / "best.json").write_text(json.dumps(list(best["name"])))
    return {"runs_seen": float(len(runs)), "best_val_acc": float(best["val_acc"].iloc[0])}


def needs_k(runs, k):
    return None


def retrain(train, lr, model="a"):
    info = json.loads((Path(train) / "info.json").read_text())
    assert info["--lr"] == str(lr), (info, lr)
    return {"final_lr": float(lr)}


def widen(train, width):
    return None
'''

SPEC = r"""
experiment: calls
params: {model: a, lr: 0.1, seed: 1}
steps:
  prep: python job.py --label prep --out {out}
  train: python job.py --label train --model {model} --lr {lr} --seed {seed} --data {prep.out} --out {out}
metrics:
  val_acc: {step: train, regex: 'val_acc (\S+)'}
  final_lr: {step: retrain}
aggregate:
  summary: {call: 'steps:summarize', uses: [val_acc]}
select:
  metric: val_acc
  by: [model]
  then:
    retrain: {call: 'steps:retrain'}
sweeps:
  grid: {model: [a, b], lr: [0.1, 0.2], seed: [1]}
"""

SCORES = {"a,0.1,1": 0.6, "a,0.2,1": 0.9, "b,0.1,1": 0.8, "b,0.2,1": 0.4}


def _setup(proj: Project, spec: str = SPEC) -> None:
    write_job(proj, SCORES)
    proj.file("steps.py", STEPS_PY)
    proj.spec(spec)


def test_function_aggregate_and_then_steps(project: Project) -> None:
    _setup(project)
    proc = project.run("run")
    assert proc.code == 0, proc
    aggregate = compare_json(project, "--stage", "aggregate")
    assert aggregate[0]["runs_seen"] == 4 and aggregate[0]["best_val_acc"] == 0.9
    with project.store() as store:
        summary = next(e for e in store.executions("calls") if e.step == "summary")
        assert summary.kind == "aggregate" and "runyard.call" in summary.command
    assert json.loads((project.home / "calls" / "steps" / "summary" / summary.short / "out" / "best.json")
                      .read_text()) == ["lr=0.2", "model=b"]
    finals = {r["name"]: r for r in compare_json(project, "--stage", "final")}
    assert {name: row["final_lr"] for name, row in finals.items()} == {"final-lr=0.2": 0.2, "final-model=b": 0.1}
    again = project.run("run")
    assert again.code == 0 and again.stdout.count("everything is cached") == 2


@pytest.mark.parametrize(("change", "message"), [
    (("steps:summarize", "steps:needs_k"),
     "aggregate.summary.call: parameter 'k' of steps:needs_k has no default: an aggregate function takes `runs`"),
    (("steps:retrain", "steps:widen"),
     "select.then.retrain.call: parameter 'width' of steps:widen is not a param of the spec"),
    (("steps:summarize", "steps:summarise"), "has no attribute 'summarise'; did you mean 'summarize'?"),
])
def test_bad_stage_functions_exit_2_and_write_nothing(project: Project, change: tuple[str, str], message: str) -> None:
    _setup(project, SPEC.replace(*change))
    before = files_under(project.root)
    proc = project.run("run")
    assert proc.code == 2, proc
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not project.home.exists() and files_under(project.root) == before
