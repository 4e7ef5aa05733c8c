"""A param added to a spec at its default re-runs nothing and renames nothing: the runs that ran before it
existed keep their ids, names and step keys (even the steps that use every param: ``{name}``, ``{*}``); a
run that sets it to another value is a new run, and so is every run once its default changes. Real
subprocesses, a SQLite store (keys are the store's identity: a home made before the param keeps working)."""

from __future__ import annotations

import json

import runyard

from .conftest import Project

SPEC = """
experiment: grow
params: {lr: 0.1, seed: 1PARAMS}
steps:
  train: echo {lr} {seed}
  named: echo {name}
  every: echo {*}
sweeps:
  s: {lr: [0.1, 0.2]}
"""


def names(project: Project) -> set[str]:
    return {r["name"] for r in json.loads(project.run("ls", "grow", "--json").stdout)}


def test_a_param_added_at_its_default_keeps_every_run(project: Project) -> None:
    project.spec(SPEC.replace("PARAMS", ""))
    assert project.run("run").code == 0
    before = {ex.key for ex in project.executions("grow")}
    project.spec(SPEC.replace("PARAMS", ", epochs: 3"))
    again = project.run("run")
    assert again.code == 0 and "everything is cached, nothing to run" in again.stdout, again
    assert {ex.key for ex in project.executions("grow")} == before and names(project) == {"default", "lr=0.2"}
    assert runyard.open(project.home).submit("grow").runs_added == 0  # the stored spec, from Python: the same

    swept = project.run("run", "epochs=3,5")  # epochs=5 is new; epochs=3 is what ran
    assert swept.code == 0, swept
    assert names(project) == {"default", "lr=0.2", "epochs=5", "lr=0.2,epochs=5"}
    assert len({ex.key for ex in project.executions("grow")} - before) == 4  # named and every, twice

    project.spec(SPEC.replace("PARAMS", ", epochs: 4"))  # a changed default: those runs are other runs
    plan = project.run("plan")
    assert "4 would run (4 params changed), 2 cached" in plan.stdout, plan
