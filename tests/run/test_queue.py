"""``runyard submit`` / ``worker`` / ``pause`` / ``resume`` / ``cancel`` / ``priority`` / ``run --detach`` and
``yard.submit``, end to end with real subprocesses on a SQLite store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

import runyard
from runyard.model import Status
from runyard.testing.processes import process_running, wait_for

from .conftest import Project

SPEC = """
experiment: q
params: {x: 1, s: 0}
steps:
  prep: python ROOT/rec.py prep
  train: python ROOT/rec.py train-{x} --sleep {s}
sweeps:
  main: {x: [1, 2, 3]}
"""


def _spec(project: Project, text: str = SPEC) -> None:
    project.spec(text.replace("ROOT", str(project.root)))


def test_submit_queues_without_running_and_a_worker_drains_it(project: Project) -> None:
    _spec(project)
    first = project.run("submit")
    assert first.code == 0, first
    assert "q: 3 runs (3 new); step executions: 4 added" in first.stdout
    assert "runyard worker --store sqlite:///" in first.stdout
    assert project.records() == [], "submit runs nothing"
    with project.store() as store:
        assert store.counts("q")[Status.READY] == 1 and store.counts("q")[Status.WAITING] == 3
    again = project.run("submit", "--json")
    assert json.loads(again.stdout)["already_queued"] == 4 and json.loads(again.stdout)["added"] == 0
    worker = project.run("worker", "--burst", "-j", "2")
    assert worker.code == 0, worker
    assert "4 done, 0 failed" in worker.stdout
    assert sorted(r["label"] for r in project.ends()) == ["prep", "train-1", "train-2", "train-3"]
    done = project.run("submit")
    assert "0 added, 4 already done" in done.stdout and "start workers" not in done.stdout


def test_worker_burst_exit_code_names_failed_logs(project: Project) -> None:
    _spec(project, SPEC.replace("--sleep {s}", "--fail-label train-2"))
    assert project.run("submit").code == 0
    worker = project.run("worker", "--burst")
    assert worker.code == 1, worker
    assert "failed q train" in worker.stdout and "/log" in worker.stdout
    assert "3 done, 1 failed" in worker.stdout


def test_worker_serves_only_its_experiments(project: Project) -> None:
    _spec(project)
    project.spec(SPEC.replace("experiment: q", "experiment: other").replace("ROOT", str(project.root)), "other.yaml")
    assert project.run("submit").code == 0
    assert project.run("submit", "other.yaml").code == 0
    worker = project.run("worker", "--burst", "--experiment", "other")
    assert worker.code == 0, worker
    with project.store() as store:
        assert store.counts("other")[Status.DONE] == 4
        assert store.counts("q")[Status.DONE] == 0
    unknown = project.run("worker", "--burst", "--experiment", "otehr")
    assert unknown.code == 2 and "Traceback" not in unknown.output
    assert "otehr" in unknown.stderr and "other" in unknown.stderr


def test_max_runs_stops_after_n_launches(project: Project) -> None:
    _spec(project)
    project.run("submit")
    worker = project.run("worker", "--max-runs", "2", "-j", "1")
    assert worker.code == 0, worker
    assert len(project.ends()) == 2


def test_pause_keeps_the_queue_and_resume_lets_it_run(project: Project) -> None:
    _spec(project)
    project.run("submit")
    paused = project.run("pause", "q")
    assert paused.code == 0 and "4 queued step executions wait" in paused.stdout
    assert "q: 4 queued, 0 running (paused" in project.run("status").stdout
    idle = project.run("worker", "--burst")
    assert idle.code == 0 and project.records() == [], "a paused experiment starts nothing"
    with project.store() as store:
        assert store.counts("q")[Status.READY] == 1
    assert "resumed q" in project.run("resume", "q").stdout
    assert project.run("worker", "--burst").code == 0
    assert len(project.ends()) == 4
    missing = project.run("pause", "nope")
    assert missing.code == 2 and "nope" in missing.stderr and "Traceback" not in missing.stderr


def test_cancel_terminates_a_running_step_from_another_process(project: Project) -> None:
    _spec(project)
    project.run("submit", "s=60", "x=1")
    worker = project.start("worker")
    wait_for(lambda: project.starts("train-1"), what="the step to start")
    cancelled = project.run("cancel", "q")
    assert cancelled.code == 0, cancelled
    assert "cancelled 1 step executions of experiment q; 1 running on" in cancelled.stdout
    wait_for(lambda: "cancelled q train" in project.output_of(worker), what="the worker to stop the step")
    (train,) = project.by_step("q")["train"]
    assert train.status == Status.CANCELLED
    meta = json.loads((Path(train.folder) / "meta.json").read_text())
    assert meta["status"] == "cancelled"
    assert project.count("train-1") == 0, "terminated, not completed"
    worker.send_signal(signal.SIGINT)
    assert worker.wait(30) == 0
    assert "1 cancelled" in project.output_of(worker)
    # a new submit queues it again
    assert "1 requeued" in project.run("submit", "s=60", "x=1").stdout


def test_cancel_a_run_spares_what_other_runs_share(project: Project) -> None:
    _spec(project)
    project.run("submit")
    with project.store() as store:
        run = next(r for r in store.runs("q") if r.params["x"] == 2)
    out = project.run("cancel", run.name)
    assert out.code == 0 and f"cancelled 1 step executions of run {run.name}" in out.stdout
    project.run("worker", "--burst")
    assert sorted(r["label"] for r in project.ends()) == ["prep", "train-1", "train-3"]
    unknown = project.run("cancel", "zzz")
    assert unknown.code == 2 and "nor is it an experiment (experiments: q)" in unknown.stderr


def test_priority_decides_what_runs_first(project: Project) -> None:
    _spec(project, SPEC.replace("prep: python ROOT/rec.py prep\n  ", ""))
    project.spec(SPEC.replace("experiment: q", "experiment: urgent").replace("train-", "urgent-")
                 .replace("prep: python ROOT/rec.py prep\n  ", "").replace("ROOT", str(project.root)), "urgent.yaml")
    project.run("submit")
    project.run("submit", "urgent.yaml", "--priority", "5")
    assert project.run("worker", "--burst", "-j", "1").code == 0
    order = [r["label"] for r in project.starts()]
    assert order[:3] == ["urgent-1", "urgent-2", "urgent-3"], order
    project.run("submit", "x=7")
    project.run("submit", "urgent.yaml", "x=7")
    assert "1 queued step executions now have priority 9" in project.run("priority", "q", "9").stdout
    project.run("worker", "--burst", "-j", "1")
    assert [r["label"] for r in project.starts()][6:] == ["train-7", "urgent-7"]


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True,
                   capture_output=True)


def test_snapshot_runs_the_code_as_submitted(project: Project) -> None:
    project.spec("""
        experiment: snap
        steps:
          show: python tool.py
        """)
    project.file("tool.py", "import helper\nprint('version', helper.VERSION)\n")
    project.file("helper.py", "VERSION = 1\n")
    _git(project.root, "init", "-q")
    _git(project.root, "add", "runyard.yaml", "tool.py")
    _git(project.root, "commit", "-qm", "first")
    # helper.py is untracked, tool.py gets an uncommitted change: both belong to the snapshot
    project.file("tool.py", "import helper\nprint('version', helper.VERSION, 'edited')\n")
    out = project.run("submit", "--snapshot")
    assert out.code == 0, out
    assert "code snapshot" in out.stdout
    project.file("helper.py", "VERSION = 2\n")  # after the submit: must not reach the queued step
    project.file("tool.py", "raise SystemExit('the checkout was used')\n")
    worker = project.run("worker", "--burst")
    assert worker.code == 0, worker
    (ex,) = project.executions("snap")
    assert "version 1 edited" in (Path(ex.folder) / "log").read_text()
    assert ex.snapshot is not None and "/snapshots/" in ex.snapshot
    code = ex.provenance["code"] if ex.provenance else {}
    assert code["dirty"] is True and code["id"] in ex.snapshot and code["untracked_files"] >= 1
    assert project.run("submit", "--snapshot", "--force").code == 0
    assert len(list((project.home / "snapshots").glob("*.json"))) == 2, "a changed checkout, a new snapshot"


def test_snapshot_outside_git_is_a_clear_error(project: Project) -> None:
    _spec(project)
    out = project.run("submit", "--snapshot")
    assert out.code == 2 and "git repository" in out.stderr and "Traceback" not in out.stderr
    assert not (project.home / "runyard.db").exists() or project.executions() == []


def test_run_detach_keeps_working_after_the_command_returns(project: Project) -> None:
    _spec(project)
    out = project.run("run", "s=0.5", "--detach", "-j", "2")
    assert out.code == 0, out
    assert "worker running in the background: pid" in out.stdout
    pid = int(out.stdout.split("pid ")[1].split(",")[0])
    assert os.getsid(pid) == pid, "the worker leads its own session: a closed terminal does not reach it"
    wait_for(lambda: len(project.ends()) == 4, timeout=60, what="the detached worker to finish")
    wait_for(lambda: not process_running(pid), timeout=30, what="the worker to exit")
    log = next((project.home / "workers").glob("q-*.log")).read_text()
    assert "4 done, 0 failed" in log
    again = project.run("run", "s=0.5", "--detach")
    assert again.code == 0 and "everything is cached" in again.stdout



def test_yard_submit_adds_runs_to_a_stored_experiment(project: Project) -> None:
    _spec(project)
    assert project.run("submit").code == 0
    with runyard.open(project.home) as yard:
        result = yard.submit("q", x=[4, 5], s=0)
        assert (len(result.added), len(result.already_queued), result.runs_added) == (2, 1, 2)
        with pytest.raises(runyard.errors.SpecError, match=r"'lr' is not a param of q"):
            yard.submit("q", lr=[0.1])
    assert project.run("worker", "--burst").code == 0
    assert sorted(r["label"] for r in project.ends()) == ["prep", "train-1", "train-2", "train-3", "train-4",
                                                         "train-5"]


SELECT_SPEC = """
experiment: pick
params: {lr: 1, seed: 1}
steps:
  train: >-
    python ROOT/rec.py train-{lr}-{seed} &&
    python -c 'import sys; print("acc=%d" % (int(sys.argv[1]) * 10 + int(sys.argv[2])))' {lr} {seed}
metrics:
  acc: {step: train, regex: 'acc=([0-9]+)', mode: max}
sweeps:
  grid: {lr: [1, 2], seed: [1, 2]}
select:
  metric: acc
  over: [seed]
  then:
    final: python ROOT/rec.py final-{lr}-{seed}
"""


def test_workers_run_the_final_stage_once_the_sweep_is_done(project: Project) -> None:
    _spec(project, SELECT_SPEC)
    assert project.run("submit").code == 0
    first = project.start("worker", "--burst", "-j", "1")
    second = project.start("worker", "--burst", "-j", "1")
    assert first.wait(120) == 0 and second.wait(120) == 0, project.output_of(first) + project.output_of(second)
    finals = sorted(r["label"] for r in project.ends() if r["label"].startswith("final"))
    assert finals == ["final-2-1", "final-2-2"], "the best lr (mean over seeds), every seed, once"
    output = project.output_of(first) + project.output_of(second)
    assert "select: best acc (max), mean over seed among 4 runs" in output
    with project.store() as store:
        stages = sorted(r.stage for r in store.runs("pick"))
        assert stages == ["final", "final", "sweep", "sweep", "sweep", "sweep"]
    again = project.run("worker", "--burst")
    assert again.code == 0 and "final step executions queued" not in again.stdout


def test_status_takes_back_the_steps_of_a_dead_worker(project: Project) -> None:
    _spec(project)
    project.run("submit", "s=60", "x=1")
    worker = project.start("worker")
    wait_for(lambda: project.starts("train-1"), what="the step to start")
    worker.kill()
    worker.wait(10)
    status = project.run("status")
    assert status.code == 0, status
    assert "taken back:" in status.stderr and "died while it ran" in status.stderr
    assert "no worker is running" in status.stdout
    with project.store() as store:
        (train,) = [ex for ex in store.executions("q") if ex.step == "train"]
        assert train.status == Status.READY, "lost, not failed: queued again whatever retries says"
    assert "1 already queued or running" in project.run("submit", "s=60", "x=1").stdout
