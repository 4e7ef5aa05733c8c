"""``runyard select`` after the fact, and bad ``select:`` blocks: exit 2, one message, nothing written."""

from __future__ import annotations

import json

import pytest

from .conftest import Project, calls, files_under, make_project, write_job
from .test_select_run import SCORES, SPEC

NO_SELECT = (SPEC[:SPEC.index("select:")] + SPEC[SPEC.index("sweeps:"):]).replace(
    "  test_acc: {step: test, regex: 'test_acc (\\S+)'}\n", "")


def test_select_after_the_fact_with_other_criteria(project: Project) -> None:
    write_job(project, SCORES)
    project.spec(SPEC)
    assert project.run("run").code == 0
    proc = project.run("select", "sel", "--mode", "min")
    assert proc.code == 0, proc
    assert "select: best val_acc (min) per model among 6 runs" in proc.stdout
    assert "model=a: default  val_acc 0.6" in proc.stdout and "model=b: model=b,lr=0.3  val_acc 0.3" in proc.stdout
    picked = sorted((c["opts"]["--model"], c["opts"]["--lr"]) for c in calls(project, "retrain"))
    assert picked == [("a", "0.1"), ("a", "0.2"), ("b", "0.1"), ("b", "0.3")]
    again = project.run("select", "--mode", "min")  # the only experiment; everything done: cached
    assert again.code == 0 and "everything is cached, nothing to run" in again.stdout
    assert len(calls(project, "retrain")) == 4
    with project.store() as store:
        finals = {r.name: r for r in store.runs("sel") if r.stage == "final"}
    assert set(finals) == {"final-lr=0.2", "final-model=b", "final-default", "final-model=b,lr=0.3"}


def test_select_dry_run_writes_nothing_and_json_lists_the_final_runs(project: Project) -> None:
    write_job(project, SCORES)
    project.spec(SPEC)
    assert project.run("run", "--sweep", "grid").code == 0
    before = files_under(project.home)
    proc = project.run("select", "--by", "", "--dry-run")
    assert proc.code == 0, proc
    assert "select: best val_acc (max) among 6 runs" in proc.stdout
    assert "all runs: lr=0.2  val_acc 0.9" in proc.stdout
    assert "would submit final-lr=0.2: prep " in proc.stdout and "(done), train " in proc.stdout
    assert "dry run: nothing written" in proc.stdout
    data = json.loads(project.run("select", "--dry-run", "--json", "--over", "").stdout)
    assert [p["runs"] for p in data["picks"]] == [["lr=0.2"], ["model=b"]]
    assert [r["name"] for r in data["final_runs"]] == ["final-lr=0.2", "final-model=b"]
    assert all(s["status"] in ("done", "new") for r in data["final_runs"] for s in r["steps"])
    assert files_under(project.home) == before


def test_select_without_a_select_block_ranks_and_says_there_is_nothing_to_run(project: Project) -> None:
    write_job(project, SCORES)
    project.spec(NO_SELECT)
    assert project.run("run").code == 0
    proc = project.run("select", "--metric", "val_acc", "--by", "model")
    assert proc.code == 0, proc
    assert "model=a: lr=0.2  val_acc 0.9" in proc.stdout and "nothing to run for the picks" in proc.stdout
    bare = project.run("select")
    assert bare.code == 2 and "has no `select:` block" in bare.stderr


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """A project whose whole sweep has run, shared by the tests that must write nothing to it."""
    proj = make_project(tmp_path_factory.mktemp("ran"))
    write_job(proj, SCORES)
    proj.spec(SPEC)
    assert proj.run("run").code == 0
    return proj


@pytest.mark.parametrize(("args", "message"), [
    (["--metric", "val_ac"], "--metric: unknown name 'val_ac'; did you mean 'val_acc'"),
    (["--by", "modle"], "--by: 'modle' is not a param of sel; did you mean 'model'?"),
    (["--over", "model"], "--over: 'model' is also in --by"),
    (["--where", "lr >"], "--where"),
    (["nope"], "no experiment 'nope'"),
])
def test_select_bad_options_exit_2_and_write_nothing(ran: Project, args: list[str], message: str) -> None:
    before = files_under(ran.home)
    proc = ran.run("select", *args)
    assert proc.code == 2, proc
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert files_under(ran.home) == before


BAD_SPECS = {
    "unknown metric": (SPEC.replace("  metric: val_acc", "  metric: val_acc2"),
                       "select.metric: 'val_acc2' is not a metric; did you mean 'val_acc'?"),
    "unknown by param": (SPEC.replace("by: [model]", "by: [modle]"),
                         "select.by: 'modle' is not a param; did you mean 'model'?"),
    "bad mode": (SPEC.replace("by: [model]", "by: [model]\n  mode: best"), "select.mode: 'best' is not a mode"),
    "then name clash": (SPEC.replace("    retrain: >-", "    train: >-")
                        .replace("{retrain.out}", "{train.out}"), "select.then.train: 'train' is already a step"),
    "then uses a later step": (SPEC.replace("--from {train.out}", "--from {test.out}"),
                               "not of 'test'"),
    "metric of a then step": (SPEC.replace("  metric: val_acc", "  metric: test_acc"),
                              "'test_acc' is reported by 'test', which is not a sweep step"),
    "no then": (SPEC[:SPEC.index("  then:")] + SPEC[SPEC.index("sweeps:"):], "select.then: missing"),
    "unknown key": (SPEC.replace("  by: [model]", "  by: [model]\n  metrc: x"), "select.metrc: unknown key"),
}


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_bad_select_blocks_exit_2_with_one_message_and_write_nothing(project: Project, case: str) -> None:
    spec, message = BAD_SPECS[case]
    write_job(project, SCORES)
    project.spec(spec)
    for command in (["plan"], ["run"]):
        proc = project.run(*command)
        assert proc.code == 2, proc
        assert proc.stderr.startswith("runyard: spec error: ") and message in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    assert not project.home.exists() and calls(project) == []
