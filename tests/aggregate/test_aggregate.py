"""``aggregate:`` steps through a real ``runyard run``: once after every run of the plan, given the run
table as a CSV (``{runs}``, ``$RUNYARD_RUNS``), recorded like any step, kept apart from the sweep's runs."""

from __future__ import annotations

import csv
import io
import json

import pytest

from .conftest import Project, calls, compare_json, files_under, write_job

SPEC = r"""
experiment: agg
params: {model: a, lr: 0.1, seed: 1}
steps:
  prep: python job.py --label prep --out {out}
  train: python job.py --label train --model {model} --lr {lr} --seed {seed} --data {prep.out} --out {out}
metrics:
  val_acc: {step: train, regex: 'val_acc (\S+)'}
  rows: {step: summary, regex: 'rows (\d+)'}
aggregate:
  summary:
    run: python job.py --label summary --table {runs} --out {out} && python count.py {runs}
    uses: [val_acc]
sweeps:
  grid: {model: [a, b], lr: [0.1, 0.2], seed: [1]}
"""

COUNT_PY = """
import csv, os, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert os.environ["RUNYARD_RUNS"] == sys.argv[1]
print(f"rows {len(rows)}")
"""

SCORES = {"a,0.1,1": 0.6, "a,0.2,1": 0.9, "b,0.1,1": 0.8, "b,0.2,1": 0.4, "a,0.1,2": 0.7}


def _setup(proj: Project, spec: str = SPEC, scores: dict[str, object] = SCORES) -> None:
    write_job(proj, scores)
    proj.file("count.py", COUNT_PY)
    proj.spec(spec)


def _table(path: str) -> list[dict[str, str]]:
    with open(path, encoding="utf-8") as handle:
        return list(csv.DictReader(io.StringIO(handle.read())))


def test_aggregate_runs_once_after_every_run_with_the_run_table(project: Project) -> None:
    _setup(project)
    proc = project.run("run")
    assert proc.code == 0, proc
    summary = calls(project, "summary")
    assert len(summary) == 1
    table_path = summary[0]["opts"]["--table"]
    assert summary[0]["runs"] == table_path and table_path.endswith("/runs.csv")
    rows = _table(table_path)
    assert [r["name"] for r in rows] == ["default", "lr=0.2", "model=b", "model=b,lr=0.2"]
    assert list(rows[0]) == ["id", "name", "status", "lr", "model", "val_acc", "folder"]  # params that differ
    assert {r["name"]: float(r["val_acc"]) for r in rows}["lr=0.2"] == 0.9
    assert all(r["status"] == "done" for r in rows) and rows[0]["folder"].endswith("/runs/default")
    with project.store() as store:
        execs = store.executions("agg")
        aggregate = next(e for e in execs if e.step == "summary")
        assert aggregate.kind == "aggregate" and aggregate.params == {}
        sweep = [e for e in execs if e.step != "summary"]
        assert set(aggregate.needs) == {e.key for e in sweep}
        assert aggregate.started is not None
        assert all(e.ended is not None and e.ended <= aggregate.started for e in sweep)
        runs = store.runs("agg")
        agg_run = next(r for r in runs if r.stage == "aggregate")
        assert agg_run.name.startswith("aggregate-") and [s for s, _ in agg_run.steps] == ["summary"]
    # its metrics are recorded like any step's; it is not one of the sweep's runs in tables
    assert [r["name"] for r in compare_json(project)] == ["default", "lr=0.2", "model=b", "model=b,lr=0.2"]
    shown = compare_json(project, "--stage", "aggregate")
    assert len(shown) == 1 and shown[0]["rows"] == 4 and shown[0]["name"] == agg_run.name
    mixed = compare_json(project, "--stage", "all")
    assert {r["name"]: r["stage"] for r in mixed}[agg_run.name] == "aggregate" and len(mixed) == 5
    assert json.loads(project.run("ls", "agg", "--stage", "aggregate", "--json").stdout)[0]["stage"] == "aggregate"


def test_aggregate_is_cached_and_reruns_when_the_sweep_grows(project: Project) -> None:
    _setup(project)
    assert project.run("run").code == 0
    again = project.run("run")
    assert again.code == 0 and "everything is cached" in again.stdout
    assert len(calls(project, "summary")) == 1
    grown = project.run("run", "seed=1,2")
    assert grown.code == 0, grown
    summaries = calls(project, "summary")
    assert len(summaries) == 2 and summaries[1]["opts"]["--table"] != summaries[0]["opts"]["--table"]
    assert len(_table(summaries[1]["opts"]["--table"])) == 8
    assert "seed" in _table(summaries[1]["opts"]["--table"])[0]


def test_aggregate_waits_for_a_failed_run_and_the_run_fails(project: Project) -> None:
    _setup(project, scores={**SCORES, "b,0.2,1": "fail"})
    proc = project.run("run")
    assert proc.code == 1, proc
    assert calls(project, "summary") == []
    assert "did not run because a step it needs failed" in proc.stdout
    with project.store() as store:
        assert next(e for e in store.executions("agg") if e.step == "summary").status.value == "waiting"


def test_plan_shows_the_aggregate_after_the_runs(project: Project) -> None:
    _setup(project)
    proc = project.run("plan")
    assert proc.code == 0, proc
    assert "needs all 5 step executions of the 4 runs" in proc.stdout
    assert "/steps/summary/" in proc.stdout and "/runs.csv" in proc.stdout
    data = json.loads(project.run("plan", "--json").stdout)
    aggregate = next(r for r in data["runs"] if r["stage"] == "aggregate")
    assert aggregate["steps"][0]["kind"] == "aggregate" and len(aggregate["steps"][0]["needs"]) == 5


BAD = {
    "missing metric": (SPEC.replace("uses: [val_acc]", "uses: [val_ac]"),
                       "aggregate.summary.uses: 'val_ac' is not a metric; did you mean 'val_acc'?"),
    "run placeholder": (SPEC.replace("--out {out} &&", "--out {run} &&"),
                        "placeholder {run} has no value in an aggregate"),
    "param placeholder": (SPEC.replace("--out {out} &&", "--out {out} --lr {lr} &&"),
                          "placeholder {lr} resolves to nothing"),
    "step output": (SPEC.replace("--out {out} &&", "--out {train.out} &&"), "placeholder {train.out} names no step"),
    "name clash": (SPEC.replace("  summary:\n", "  train:\n").replace("step: summary", "step: train"),
                   "aggregate.train: 'train' is already a step"),
    "needs": (SPEC.replace("    uses: [val_acc]", "    uses: [val_acc]\n    needs: [train]"),
              "aggregate.summary.needs: an aggregate needs every execution"),
    "unknown key": (SPEC.replace("    uses: [val_acc]", "    uses: [val_acc]\n    use: [x]"),
                    "aggregate.summary.use: unknown key; did you mean 'uses'?"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_aggregates_exit_2_with_one_message_and_write_nothing(project: Project, case: str) -> None:
    spec, message = BAD[case]
    _setup(project, spec)
    before = files_under(project.root)
    for command in (["plan"], ["run"], ["run", "--dry-run"]):
        proc = project.run(*command)
        assert proc.code == 2, proc
        assert proc.stderr.startswith("runyard: spec error: ") and message in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    assert not project.home.exists() and files_under(project.root) == before
