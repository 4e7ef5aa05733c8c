"""Ctrl-C (DESIGN §5): the first SIGINT stops launching and lets running steps finish; the second
terminates their process groups (SIGTERM, then SIGKILL after the grace period). Both exit 130, and the
next ``runyard run`` resumes. runyard runs in its own session and only its pid is signalled."""

from __future__ import annotations

import os
import signal
import time

from runyard.testing.processes import wait_for

from .conftest import Project, group_alive


def test_first_ctrl_c_stops_launching_and_lets_running_steps_finish(project: Project) -> None:
    project.spec("""
        experiment: calm
        params: {x: 0}
        steps:
          work: python rec.py w-{x} --sleep 1
        sweeps:
          xs: {x: [1, 2, 3, 4, 5]}
        """)
    proc = project.start("run", "--jobs", "2")
    wait_for(lambda: len(project.starts()) == 2, what="two steps to start")
    os.kill(proc.pid, signal.SIGINT)
    assert proc.wait(20) == 130, project.output_of(proc)
    output = project.output_of(proc)
    assert "Traceback" not in output and "interrupted" in output
    assert "waiting for 2 running steps to finish (Ctrl-C again to terminate them)" in output
    # the two running steps finished and are recorded done; nothing else was launched
    assert len(project.starts()) == 2 and len(project.ends()) == 2
    statuses = sorted(str(ex.status) for ex in project.executions("calm"))
    assert statuses == ["done", "done", "ready", "ready", "ready"]
    # the next run resumes: only the three that never ran
    again = project.run("run", "--jobs", "2")
    assert again.code == 0, again
    assert sorted(r["label"] for r in project.ends()) == [f"w-{x}" for x in range(1, 6)]


def test_second_ctrl_c_terminates_running_steps_then_run_resumes(project: Project) -> None:
    # polite and deaf both run at once (later needs deaf, the step before it)
    project.spec("""
        experiment: stubborn
        steps:
          polite:
            run: python rec.py polite --sleep-file slow
          deaf:
            run: trap '' TERM && python rec.py deaf --sleep-file slow
            needs: []
          later:
            run: python rec.py later
        """)
    project.file("slow", "30")
    proc = project.start("run", "--jobs", "2", "--grace", "1")
    wait_for(lambda: {r["label"] for r in project.starts()} == {"polite", "deaf"}, what="both steps to start")
    groups = {r["pgid"] for r in project.starts()}
    os.kill(proc.pid, signal.SIGINT)
    wait_for(lambda: "waiting for 2 running steps to finish" in project.output_of(proc) or proc.poll() is not None,
             what="the first Ctrl-C to be acknowledged")
    assert proc.poll() is None  # the first Ctrl-C waits for the running steps
    began = time.monotonic()
    os.kill(proc.pid, signal.SIGINT)
    assert proc.wait(20) == 130, project.output_of(proc)
    took = time.monotonic() - began
    assert took < 8, took  # TERM for polite, KILL for deaf after the 1 s grace; not the 30 s sleep
    output = project.output_of(proc)
    assert "Traceback" not in output and "terminating 2 running steps" in output
    assert not any(group_alive(g) for g in groups)
    assert project.ends() == []  # neither step completed
    by_step = {ex.step: ex for ex in project.executions("stubborn")}
    assert str(by_step["polite"].status) == "interrupted" and str(by_step["deaf"].status) == "interrupted"
    assert str(by_step["later"].status) == "waiting"
    assert by_step["deaf"].exit_code == 128 + signal.SIGKILL  # it ignored TERM
    # the next run resumes and finishes everything
    project.file("slow", "0.1")
    again = project.run("run", "--jobs", "2")
    assert again.code == 0, again
    assert sorted(r["label"] for r in project.ends()) == ["deaf", "later", "polite"]
    assert {str(ex.status) for ex in project.executions("stubborn")} == {"done"}


def test_sigterm_terminates_the_running_steps_and_records_them_interrupted(project: Project) -> None:
    project.spec("""
        experiment: termed
        steps:
          nap: python rec.py nap --sleep-file slow
        """)
    project.file("slow", "30")
    proc = project.start("run", "--grace", "1")
    wait_for(lambda: project.starts("nap"), what="the step to start")
    (start,) = project.starts("nap")
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(20) == 130, project.output_of(proc)
    assert "Traceback" not in project.output_of(proc)
    assert not group_alive(start["pgid"])
    (ex,) = project.executions("termed")
    assert str(ex.status) == "interrupted" and ex.error == "interrupted"
    project.file("slow", "0")
    assert project.run("run").code == 0
    assert project.count("nap") == 1


def test_a_third_ctrl_c_kills_at_once(project: Project) -> None:
    project.spec("""
        experiment: deaf
        steps:
          deaf: trap '' TERM && python rec.py deaf --sleep 30
        """)
    proc = project.start("run", "--grace", "60")
    wait_for(lambda: project.starts("deaf"), what="the step to start")
    (start,) = project.starts("deaf")
    began = time.monotonic()
    # each Ctrl-C once the one before it is acknowledged (two signals sent at once may arrive as one)
    for said in ("waiting for 1 running step to finish", "terminating 1 running step", "killing 1 running step"):
        os.kill(proc.pid, signal.SIGINT)
        wait_for(lambda said=said: said in project.output_of(proc) or proc.poll() is not None, what=said)
    assert proc.wait(20) == 130, project.output_of(proc)
    assert time.monotonic() - began < 8  # not the 60 s grace
    assert "killing 1 running step" in project.output_of(proc)
    assert not group_alive(start["pgid"])
    (ex,) = project.executions("deaf")
    assert str(ex.status) == "interrupted"


def test_ctrl_c_while_the_last_step_runs_lets_it_finish_and_exits_0(project: Project) -> None:
    project.spec("""
        experiment: last
        steps:
          only: python rec.py only --sleep 1
        """)
    proc = project.start("run")
    wait_for(lambda: project.starts("only"), what="the step to start")
    os.kill(proc.pid, signal.SIGINT)
    assert proc.wait(20) == 0, project.output_of(proc)  # nothing is left to resume
    assert project.count("only") == 1
    assert "run the same command again" not in project.output_of(proc)
