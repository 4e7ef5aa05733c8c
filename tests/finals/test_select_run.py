"""``select:`` through a real ``runyard run``: the best run per group gets final runs of its own that use the
selected run's outputs and params; a second run does nothing; ties, failures and NaN are defined."""

from __future__ import annotations

import json

from .conftest import Project, calls, compare_json, write_job

SPEC = r"""
experiment: sel
params: {model: a, lr: 0.1, seed: 1}
steps:
  prep: python job.py --label prep --out {out}
  train: python job.py --label train --model {model} --lr {lr} --seed {seed} --data {prep.out} --out {out}
metrics:
  val_acc: {step: train, regex: 'val_acc (\S+)'}
  test_acc: {step: test, regex: 'test_acc (\S+)'}
select:
  metric: val_acc
  by: [model]
  then:
    retrain: >-
      python job.py --label retrain --model {model} --lr {lr} --seed {seed}
      --data {prep.out} --from {train.out} --out {out}
    test: python job.py --label test --ckpt {retrain.out} --model {model}
sweeps:
  grid: {model: [a, b], lr: [0.1, 0.2, 0.3], seed: [1]}
"""

SCORES = {"a,0.1,1": 0.6, "a,0.2,1": 0.9, "a,0.3,1": 0.7, "b,0.1,1": 0.8, "b,0.2,1": 0.4, "b,0.3,1": 0.3}


def _setup(proj: Project, scores: dict[str, object] = SCORES, spec: str = SPEC) -> None:
    write_job(proj, scores)
    proj.spec(spec)


def test_best_run_per_group_gets_a_final_run_using_its_outputs(project: Project) -> None:
    _setup(project)
    proc = project.run("run")
    assert proc.code == 0, proc
    assert "select: best val_acc (max) per model among 6 runs" in proc.stdout
    assert "model=a: lr=0.2  val_acc 0.9" in proc.stdout and "model=b: model=b  val_acc 0.8" in proc.stdout
    retrains = calls(project, "retrain")
    assert sorted((c["opts"]["--model"], c["opts"]["--lr"]) for c in retrains) == [("a", "0.2"), ("b", "0.1")]
    for call in retrains:  # {train.out} is the selected run's train output, with the same params
        info = call["opts"]["from_info"]
        assert (info["--model"], info["--lr"]) == (call["opts"]["--model"], call["opts"]["--lr"])
    assert len(calls(project, "prep")) == 1 and len(calls(project, "train")) == 6 and len(calls(project, "test")) == 2
    with project.store() as store:
        runs = {r.name: r for r in store.runs("sel")}
        final = runs["final-lr=0.2"]
        assert final.stage == "final" and final.origin == runs["lr=0.2"].id and final.id != runs["lr=0.2"].id
        assert dict(final.params) == dict(runs["lr=0.2"].params)
        assert [s for s, _ in final.steps] == ["prep", "train", "retrain", "test"]
        assert dict(final.steps)["train"] == dict(runs["lr=0.2"].steps)["train"]  # the selected run's execution
        sweep_keys = {k for r in runs.values() if r.stage == "sweep" for _, k in r.steps}
        assert dict(final.steps)["retrain"] not in sweep_keys
        assert {r.name for r in runs.values() if r.stage == "final"} == {"final-lr=0.2", "final-model=b"}
    rows = compare_json(project)
    assert {r["name"]: r["stage"] for r in rows}["final-model=b"] == "final"
    assert {r["name"] for r in compare_json(project, "--stage", "final")} == {"final-lr=0.2", "final-model=b"}
    shown = project.run("show", "final-model=b")
    assert shown.code == 0 and "stage final: selected from run model=b" in shown.stdout
    listed = project.run("ls", "sel", "--stage", "final", "--json")
    assert {r["origin"] for r in json.loads(listed.stdout)} == {runs["lr=0.2"].id, runs["model=b"].id}


def test_a_second_run_with_everything_done_does_nothing(project: Project) -> None:
    _setup(project)
    assert project.run("run").code == 0
    before = len(calls(project))
    again = project.run("run")
    assert again.code == 0, again
    assert len(calls(project)) == before
    assert again.stdout.count("everything is cached, nothing to run") == 2  # the sweep, then the final runs
    with project.store() as store:
        assert sum(1 for r in store.runs("sel") if r.stage == "final") == 2


def test_over_seed_ranks_configs_by_their_mean_and_keeps_all_their_runs(project: Project) -> None:
    spec = SPEC.replace("by: [model]", "by: [model]\n  over: [seed]").replace(
        "seed: [1]}", "seed: [1, 2]}")
    scores = {"a,0.1,1": 0.95, "a,0.1,2": 0.1, "a,0.2,1": 0.6, "a,0.2,2": 0.6, "b,0.1,1": 0.5, "b,0.1,2": 0.5}
    _setup(project, scores, spec)
    proc = project.run("run")
    assert proc.code == 0, proc
    assert "mean over seed" in proc.stdout
    retrains = calls(project, "retrain")
    picked = sorted((c["opts"]["--model"], c["opts"]["--lr"], c["opts"]["--seed"]) for c in retrains)
    # a: lr=0.2 (mean 0.6) beats lr=0.1 (mean 0.525) although lr=0.1 has the best single run
    assert picked[:2] == [("a", "0.2", "1"), ("a", "0.2", "2")]
    assert len(picked) == 4 and {p[0] for p in picked[2:]} == {"b"}


def test_ties_pick_the_first_run_name_and_say_so(project: Project) -> None:
    scores = {**SCORES, "a,0.3,1": 0.9}  # lr=0.2 and lr=0.3 tie for model a
    _setup(project, scores)
    proc = project.run("run")
    assert proc.code == 0, proc
    assert "model=a: lr=0.2  val_acc 0.9" in proc.stdout
    assert "tie: lr=0.3 scored the same; picked the first by run name" in proc.stdout


def test_failed_runs_and_nan_values_are_left_out(project: Project) -> None:
    scores = {**SCORES, "a,0.2,1": "fail", "a,0.3,1": "nan", "b,0.1,1": "fail", "b,0.2,1": "nan",
              "b,0.3,1": "fail"}
    _setup(project, scores)
    proc = project.run("run")
    assert proc.code == 1, proc  # the sweep had failures
    assert "model=a: default  val_acc 0.6" in proc.stdout
    assert "model=b: no run has a val_acc value to rank: nothing selected" in proc.stdout
    assert "left out:" in proc.stdout and "lr=0.2 (failed)" in proc.stdout
    assert "lr=0.3 (no val_acc value)" in proc.stdout
    assert [c["opts"]["--model"] for c in calls(project, "retrain")] == ["a"]


def test_a_failed_final_step_makes_the_exit_code_1_and_names_its_log(project: Project) -> None:
    spec = SPEC.replace("test: python job.py --label test --ckpt {retrain.out} --model {model}",
                        "test: python -c \"import sys; sys.exit(4)\" {retrain.out}")
    _setup(project, SCORES, spec)
    proc = project.run("run")
    assert proc.code == 1, proc
    assert "failed test" in proc.stdout and "/log" in proc.stdout
    with project.store() as store:
        finals = [r for r in store.runs("sel") if r.stage == "final"]
        assert len(finals) == 2 and all(str(r.status) == "failed" for r in finals)


def test_runset_best(project: Project) -> None:
    import runyard

    _setup(project)
    assert project.run("run").code == 0
    with runyard.open(project.home) as yard:
        best = yard.runs("sel").best("val_acc", by="model")
        assert list(best["name"]) == ["lr=0.2", "model=b"]
        worst = yard.runs("sel").best("val_acc", mode="min")
        assert list(worst["name"]) == ["model=b,lr=0.3"]


def test_force_step_reaches_the_final_runs(project: Project) -> None:
    _setup(project)
    assert project.run("run").code == 0
    forced = project.run("run", "--force-step", "retrain")
    assert forced.code == 0, forced
    assert (len(calls(project, "train")), len(calls(project, "retrain")), len(calls(project, "test"))) == (6, 4, 4)
    upstream = project.run("run", "--force-step", "train")  # the final runs use {train.out}: downstream
    assert upstream.code == 0, upstream
    assert (len(calls(project, "train")), len(calls(project, "retrain")), len(calls(project, "test"))) == (12, 6, 6)
    bad = project.run("run", "--force-step", "retrian")
    assert bad.code == 2 and "did you mean 'retrain'" in bad.stderr and "retrain" in bad.stderr
    assert len(calls(project)) == 1 + 12 + 6 + 6


def test_a_sweep_where_every_run_failed_selects_nothing(project: Project) -> None:
    _setup(project, {key: "fail" for key in SCORES})
    proc = project.run("run")
    assert proc.code == 1, proc
    assert "Traceback" not in proc.stderr
    assert "model=a: no run has a val_acc value to rank: nothing selected" in proc.stdout
    assert "model=b: no run has a val_acc value to rank: nothing selected" in proc.stdout
    assert calls(project, "retrain") == []
    after = project.run("select", "--dry-run")
    assert after.code == 0 and "nothing selected" in after.stdout
