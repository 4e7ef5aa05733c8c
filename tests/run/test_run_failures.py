"""Sharing and failure (DESIGN §3, §10): a shared prep step runs once for the whole sweep; a failing step
fails its own run only, its dependents do not run, the command exits 1 and names the log."""

from __future__ import annotations

import os
from pathlib import Path

from .conftest import Project


def test_a_shared_prep_step_runs_once_for_a_sweep(project: Project) -> None:
    project.spec("""
        experiment: shared
        params: {data: small, lr: 0.1, seed: 1}
        steps:
          prep: python rec.py prep-{data} --sleep 0.2
          train: python rec.py train-{lr}-{seed} --data {prep.out}
        sweeps:
          grid: {lr: [0.1, 0.2, 0.3], seed: [1, 2]}
        """)
    result = project.run("run")
    assert result.code == 0, result
    assert project.count("prep-small") == 1
    assert len(project.starts("prep-small")) == 1
    trains = [r["label"] for r in project.ends() if r["label"].startswith("train-")]
    assert len(trains) == 6 and len(set(trains)) == 6
    by_step = project.by_step("shared")
    assert len(by_step["prep"]) == 1 and len(by_step["train"]) == 6
    prep_folder = by_step["prep"][0].folder
    # every train ran after the one prep and got its output folder
    prep_end = project.ends("prep-small")[0]["t"]
    assert all(r["t"] >= prep_end for r in project.starts() if r["label"].startswith("train-"))
    runs = sorted(os.listdir(project.home / "shared" / "runs"))
    assert len(runs) == 6
    for run in runs:
        assert os.path.realpath(project.home / "shared" / "runs" / run / "prep") == os.path.realpath(prep_folder)


FAILING = """
    experiment: failing
    params: {x: 0}
    steps:
      a: python rec.py a-{x} --fail-label a-2
      b: python rec.py b-{x}
      c: python rec.py c-{x}
    sweeps:
      xs: {x: [1, 2, 3]}
    """


def test_a_failing_step_fails_its_run_only(project: Project) -> None:
    project.spec(FAILING)
    result = project.run("run", "--jobs", "1")
    assert result.code == 1, result
    # the other runs finished; nothing downstream of the failed step ran
    assert {r["label"] for r in project.ends()} == {"a-1", "b-1", "c-1", "a-2", "a-3", "b-3", "c-3"}
    by_key = {(ex.step, ex.params.get("x")): ex for ex in project.executions("failing")}
    failed = by_key[("a", 2)]
    assert failed.status == "failed" and failed.exit_code == 3
    assert by_key[("b", 2)].status == "waiting" and by_key[("c", 2)].status == "waiting"
    assert all(ex.status == "done" for (_, x), ex in by_key.items() if x != 2)
    # the output names the failed step's log, which holds the step's stderr
    log = os.path.join(failed.folder, "log")
    assert log in result.output
    assert "failing with exit code 3" in Path(log).read_text(encoding="utf-8")
    assert "Traceback" not in result.output


def test_logs_prints_the_failed_steps_log(project: Project) -> None:
    project.spec(FAILING)
    assert project.run("run").code == 1
    shown = project.cli("logs", "x=2")
    assert shown.exit_code == 0, shown.output
    assert "rec.py a-2: failing with exit code 3" in shown.output
    # every step of a run can be asked for; a done one prints its log (empty here), not the failed one
    other = project.cli("logs", "x=1", "--step", "a")
    assert other.exit_code == 0 and "failing" not in other.output
    assert project.cli("logs", "x=2", "--step", "a").output == shown.output
    described = project.cli("show", "x=2")
    assert "error exit code 3" in described.output and "a-{x}" not in described.output


def test_a_failed_run_stays_failed_and_does_not_stop_a_second_run(project: Project) -> None:
    project.spec(FAILING)
    assert project.run("run").code == 1
    again = project.run("run")
    # the failed step runs again (and fails again); the done ones are cached
    assert again.code == 1, again
    assert project.count("a-2") == 2
    assert project.count("a-1") == 1 and project.count("c-3") == 1


def test_a_step_that_cannot_start_fails_with_the_reason_in_its_log(project: Project) -> None:
    project.spec("""
        experiment: nowhere
        steps:
          lost:
            run: python rec.py lost
            workdir: missing
          fine:
            run: python rec.py fine
            needs: []
        """)
    result = project.run("run")
    assert result.code == 1, result
    by_step = {ex.step: ex for ex in project.executions("nowhere")}
    lost = by_step["lost"]
    assert str(lost.status) == "failed" and "could not start" in (lost.error or "")
    assert str(project.root / "missing") in Path(lost.folder, "log").read_text()
    assert os.path.join(lost.folder, "log") in result.output
    assert str(by_step["fine"].status) == "done" and project.starts("lost") == []
    assert "Traceback" not in result.output and "running -1" not in result.output
