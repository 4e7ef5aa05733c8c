"""Resume and caching (DESIGN §3): what a second ``runyard run`` re-runs, and what it does not."""

from __future__ import annotations

import os
import shutil
from collections import Counter

from .conftest import Project

CHAIN = """
    experiment: chain
    params: {a: 1, b: 1, seed: 0}
    steps:
      first: python rec.py first-{seed} --a {a}
      second: python rec.py second-{seed} --b {b} --in {first.out}
      third: python rec.py third-{seed} --in {second.out}
      other: python rec.py other-{seed} --in {first.out}
    sweeps:
      seeds: {seed: [1, 2]}
    """
STEPS = ("first", "second", "third", "other")


def ran(project: Project) -> Counter[str]:
    """How many times each step completed, over all runs so far."""
    return Counter(r["label"].split("-")[0] for r in project.ends())


def test_a_second_run_runs_nothing_and_says_everything_is_cached(project: Project) -> None:
    project.spec(CHAIN)
    first = project.run("run")
    assert first.code == 0, first
    assert ran(project) == dict.fromkeys(STEPS, 2)
    again = project.run("run")
    assert again.code == 0, again
    assert "everything is cached" in again.output
    assert ran(project) == dict.fromkeys(STEPS, 2)


def test_changing_a_default_reruns_exactly_the_steps_that_use_it_and_their_downstream(project: Project) -> None:
    project.spec(CHAIN)
    assert project.run("run").code == 0
    project.spec(CHAIN.replace("b: 1,", "b: 2,"))
    again = project.run("run")
    assert again.code == 0, again
    assert ran(project) == {"first": 2, "second": 4, "third": 4, "other": 2}
    assert "4 to run, 4 cached" in again.output


def test_force_reruns_everything(project: Project) -> None:
    project.spec(CHAIN)
    assert project.run("run").code == 0
    again = project.run("run", "--force")
    assert again.code == 0, again
    assert ran(project) == dict.fromkeys(STEPS, 4)


def test_force_step_reruns_that_step_and_its_downstream_only(project: Project) -> None:
    project.spec(CHAIN)
    assert project.run("run").code == 0
    again = project.run("run", "--force-step", "second")
    assert again.code == 0, again
    assert ran(project) == {"first": 2, "second": 4, "third": 4, "other": 2}


def test_a_done_execution_whose_folder_was_deleted_runs_again(project: Project) -> None:
    project.spec(CHAIN)
    assert project.run("run").code == 0
    third = [ex for ex in project.executions("chain") if ex.step == "third" and ex.params.get("seed") == 1]
    (gone,) = third
    shutil.rmtree(gone.folder)
    again = project.run("run")
    assert again.code == 0, again
    assert Counter(r["label"] for r in project.ends())["third-1"] == 2
    assert ran(project) == {"first": 2, "second": 2, "third": 3, "other": 2}
    assert os.path.isfile(os.path.join(gone.folder, "meta.json"))


def test_a_failed_execution_runs_again_on_the_next_run(project: Project) -> None:
    project.spec("""
        experiment: fixable
        params: {x: 0}
        steps:
          fragile: python rec.py fragile-{x} --fail-unless fixed
          after: python rec.py after-{x}
        sweeps:
          xs: {x: [1, 2]}
        """)
    first = project.run("run")
    assert first.code == 1, first
    assert project.starts("after-1") == []
    project.file("fixed", "")
    again = project.run("run")
    assert again.code == 0, again
    completed = Counter(r["label"] for r in project.ends())
    assert completed == {"fragile-1": 2, "fragile-2": 2, "after-1": 1, "after-2": 1}
    assert {str(ex.status) for ex in project.executions("fixable")} == {"done"}
    # attempts count launches since the execution was requeued
    assert all(ex.attempts == 1 for ex in project.executions("fixable"))


def _experiment_updated(project: Project, name: str) -> float:
    with project.store() as store:
        return store.experiment(name).updated


def test_a_re_run_with_nothing_to_do_only_reads_the_store(project: Project) -> None:
    project.spec(CHAIN)
    assert project.run("run").code == 0
    stamp = _experiment_updated(project, "chain")
    run_folder = next((project.home / "chain" / "runs").iterdir())
    (run_folder / "first").unlink()  # a missing link is made again, as by any run
    again = project.run("run")
    assert again.code == 0, again
    assert "everything is cached" in again.output and "chain: 8 done" in again.output
    assert _experiment_updated(project, "chain") == stamp, "no submit: the store was not written"
    assert (run_folder / "first").is_symlink() and (run_folder / "first" / "meta.json").is_file()
    assert ran(project) == dict.fromkeys(STEPS, 2)


def test_a_re_run_whose_spec_changed_without_new_keys_stores_the_new_spec(project: Project) -> None:
    project.spec(CHAIN)
    assert project.run("run").code == 0
    stamp = _experiment_updated(project, "chain")
    metric = "    metrics:\n      score: {step: first, regex: 'score ([0-9.]+)'}\n"  # part of no key
    project.spec(CHAIN.rstrip(" ") + metric)
    again = project.run("run")
    assert again.code == 0, again
    assert "everything is cached" in again.output
    assert _experiment_updated(project, "chain") > stamp, "submitted: the store has the changed spec"
    assert ran(project) == dict.fromkeys(STEPS, 2)
