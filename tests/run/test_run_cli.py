"""``runyard ls / show / logs / status`` after a real run, and bad input to ``runyard run`` (exit 2, one
clear line, nothing written)."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from runyard.testing.processes import wait_for

from .conftest import RUNYARD, Project

SPEC = """
    experiment: looks
    params: {lr: 0.1}
    steps:
      prep: python rec.py prep
      train: python rec.py train-{lr} && echo trained with {lr}
    sweeps:
      lrs: {lr: [0.1, 0.2]}
    """


@pytest.fixture
def looks(project: Project) -> Project:
    project.spec(SPEC)
    result = project.run("run")
    assert result.code == 0, result
    return project


def test_ls_lists_experiments_and_runs(looks: Project) -> None:
    listed = looks.cli("ls")
    assert listed.exit_code == 0, listed.output
    assert "looks" in listed.output and "2 done" in listed.output
    data = json.loads(looks.cli("ls", "--json").output)
    assert data == [{"experiment": "looks", "runs": 2, "status": {"done": 2}}]
    runs = looks.cli("ls", "looks")
    assert runs.exit_code == 0
    assert "default" in runs.output and "lr=0.2" in runs.output and "prep:done train:done" in runs.output
    rows = json.loads(looks.cli("ls", "looks", "--json").output)
    assert sorted(r["name"] for r in rows) == ["default", "lr=0.2"]
    for row in rows:
        assert row["status"] == "done" and len(row["id"]) == 64
        assert row["folder"] == str(looks.home / "looks" / "runs" / row["name"])
        assert row["params"]["lr"] == (0.1 if row["name"] == "default" else 0.2)


def test_show_json_describes_a_run_and_its_steps(looks: Project) -> None:
    shown = looks.cli("show", "lr=0.2", "--json")
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    assert data["name"] == "lr=0.2" and data["experiment"] == "looks" and data["status"] == "done"
    assert data["params"] == {"lr": 0.2}
    executions = {ex.key: ex for ex in looks.executions("looks")}
    assert [s["name"] for s in data["steps"]] == ["prep", "train"]
    for step in data["steps"]:
        ex = executions[step["key"]]
        assert step["status"] == "done" and step["exit_code"] == 0 and step["attempts"] == 1
        assert step["command"] == ex.command and step["folder"] == ex.folder
        assert step["log"] == os.path.join(ex.folder, "log") and os.path.isfile(step["log"])
    # an id prefix works as well as a name; the text form names the commands and logs
    by_id = looks.cli("show", data["id"][:8])
    assert by_id.exit_code == 0 and "lr=0.2" in by_id.output and data["steps"][1]["log"] in by_id.output


def test_logs_prints_the_log_of_a_named_step(looks: Project) -> None:
    train = looks.cli("logs", "lr=0.2", "--step", "train")
    assert train.exit_code == 0 and train.output == "trained with 0.2\n"
    assert looks.cli("logs", "lr=0.2").output == "trained with 0.2\n"  # default: the last started step
    assert looks.cli("logs", "lr=0.2", "--step", "prep").output == ""
    missing = looks.cli("logs", "lr=0.2", "--step", "trian")
    assert missing.exit_code == 2 and "did you mean 'train'" in missing.output


def test_status_shows_the_worker_and_what_it_runs(project: Project) -> None:
    project.spec("""
        experiment: busy
        steps:
          nap: python rec.py nap --until release
        """)
    idle = project.run("run", "--dry-run")
    assert idle.code == 0
    proc = project.start("run")
    wait_for(lambda: project.starts("nap") and project.executions("busy")[0].pid, what="the step to start")
    (ex,) = project.executions("busy")
    text = project.cli("status")
    assert text.exit_code == 0, text.output
    assert f"pid {proc.pid}" in text.output and "alive" in text.output
    assert f"busy nap default ({ex.short}) pid {ex.pid}" in text.output
    assert os.path.join(ex.folder, "log") in text.output
    assert "queue: 1 running" in text.output
    (worker,) = json.loads(project.cli("status", "--json").output)
    assert worker["pid"] == proc.pid and worker["alive"] is True
    assert [r["step"] for r in worker["running"]] == ["nap"] and worker["running"][0]["pid"] == ex.pid
    project.file("release", "")
    assert proc.wait(20) == 0
    after = project.cli("status")
    assert "no worker is running" in after.output and "queue: 1 done" in after.output


def test_an_unknown_run_is_one_clear_line_and_exit_2(looks: Project) -> None:
    for args in (["show", "nope"], ["logs", "nope"], ["show", "nope", "--json"], ["ls", "nope"]):
        result = looks.run(*args)
        assert result.code == 2, result
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("runyard: ") and "nope" in lines[0], result
        assert "Traceback" not in result.stderr


def test_reading_commands_without_a_store_say_so_and_write_nothing(project: Project) -> None:
    result = project.run("ls")
    assert result.code == 2 and "run `runyard run` or `runyard submit` first" in result.stderr
    assert "Traceback" not in result.stderr
    assert not project.home.exists()


def test_force_step_of_an_unknown_step_suggests_the_right_one(project: Project) -> None:
    project.spec(SPEC)
    result = project.run("run", "--force-step", "trian")
    assert result.code == 2, result
    assert "did you mean 'train'" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not project.home.exists() and project.starts() == []
    far = project.run("run", "--force-step", "nope")
    assert far.code == 2 and "--force-step nope" in far.stderr and "(steps: prep, train)" in far.stderr
    assert not project.home.exists()


def test_a_step_needing_more_gpus_than_there_are_is_refused_before_anything_is_written(project: Project) -> None:
    project.spec("""
        experiment: greedy
        steps:
          big:
            run: python rec.py big
            gpus: 2
        resources: {gpus: [0, 1]}
        """)
    result = project.run("run", "--gpus", "0")
    assert result.code == 2, result
    assert "'big' needs 2 GPU(s)" in result.stderr and "Traceback" not in result.stderr
    assert not project.home.exists() and project.starts() == []
    cpu_only = project.run("run", "--gpus", "none")
    assert cpu_only.code == 2 and "needs 2 GPU(s)" in cpu_only.stderr
    assert not project.home.exists()
    # with both GPUs it runs
    assert project.run("run").code == 0
    assert sorted(project.starts("big")[0]["cvd"].split(",")) == ["0", "1"]


def test_a_spec_error_is_exit_2_and_writes_nothing(project: Project) -> None:
    project.spec("""
        experiment: broken
        steps:
          a: python rec.py {nope}
        """)
    result = project.run("run")
    assert result.code == 2, result
    assert "nope" in result.stderr and "Traceback" not in result.stderr
    assert not project.home.exists()
    unknown = project.run("run", "lrr=1")
    assert unknown.code == 2 and "Traceback" not in unknown.stderr


def test_logs_follow_prints_as_the_log_grows_until_the_step_ends(project: Project) -> None:
    project.spec("""
        experiment: chatty
        steps:
          talk: python rec.py talk && for i in 1 2 3 4; do echo line $i; sleep 0.25; done
        """)
    proc = project.start("run")
    wait_for(lambda: project.starts("talk"), what="the step to start")
    followed = project.run("logs", "default", "--follow", timeout=20)
    assert followed.code == 0, followed
    assert followed.stdout.splitlines() == ["line 1", "line 2", "line 3", "line 4"]
    assert proc.wait(20) == 0


def test_a_reader_that_goes_away_does_not_stop_the_sweep(project: Project) -> None:
    # `runyard run | head -1`: the display loses its pipe; the steps still run and are recorded
    project.spec("""
        experiment: piped
        params: {x: 0}
        steps:
          work: python rec.py w-{x} --sleep 0.1
        sweeps:
          xs: {x: [1, 2, 3, 4, 5, 6]}
        """)
    proc = subprocess.Popen([RUNYARD, "run", "--jobs", "1"], cwd=project.root, env=project.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"piped: 6 runs")
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(30) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err
    assert {str(ex.status) for ex in project.executions("piped")} == {"done"}
    assert len(project.ends()) == 6


def test_run_in_process_puts_the_signal_handlers_back(project: Project) -> None:
    project.spec("""
        experiment: inproc
        steps:
          a: python rec.py a
        """)
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    result = project.cli("run")
    assert result.exit_code == 0, result.output
    assert "inproc: 1 done" in result.output
    assert {sig: signal.getsignal(sig) for sig in before} == before
    assert project.count("a") == 1
