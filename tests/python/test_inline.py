"""``runyard run --inline``: call steps in the worker's process (pdb works), recorded like subprocess steps;
and the aggregate seam ($RUNYARD_RUNS → a ``runs`` DataFrame) of the call runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import runyard
from runyard.testing.processes import wait_for

from .conftest import RUNYARD, Project, compare_json, show_json

STEPS = '''
import os
import runyard


def first(seed=1):
    print("first says hello", seed)
    runyard.log(step=0, loss=1.0)
    runyard.log(step=1, loss=0.5)
    return {"pid": os.getpid(), "cwd": os.getcwd(), "key": os.environ["RUNYARD_KEY"]}


def second(first, scale=2.0):
    x = scale * 10
    breakpoint()
    return {"score": x, "same_pid": float(first["pid"] == os.getpid())}


def broken():
    raise RuntimeError("inline failure")


def slow():
    import time
    time.sleep(60)
'''

SPEC = """
experiment: inl
steps:
  first: {call: steps:first}
  second: {call: steps:second}
  shell: python rec.py shell
"""


def _run(project: Project, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([RUNYARD, "run", *args], cwd=project.root, env=project.env(), input=stdin,
                          capture_output=True, text=True, timeout=60, check=False)


def test_inline_steps_run_in_the_worker_process_and_pdb_works(project: Project) -> None:
    project.file("steps.py", STEPS)
    project.spec(SPEC)
    done = _run(project, "--inline", stdin="p scale\nx = 7\nc\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(Pdb) 2.0" in done.stdout  # the debugger read our commands and printed to the terminal
    assert "first says hello 1" in done.stdout
    result = runyard.load("default", "first", home=project.home)
    shell_pid = project.starts("shell")[0]["pid"]
    assert result["pid"] != shell_pid  # command steps still run in their own process
    assert runyard.load("default", "second", home=project.home) == {"score": 7.0, "same_pid": 1.0}
    assert result["cwd"] == str(project.root)  # the step's workdir, as a subprocess gets it
    run = show_json(project, "default")
    steps = {s["name"]: s for s in run["steps"]}
    assert result["key"] == steps["first"]["key"]
    assert all(s["status"] == "done" for s in run["steps"])
    assert "first says hello 1" in Path(steps["first"]["log"]).read_text()  # captured in the log too
    rows = compare_json(project, "--cols", "loss,loss.min,loss.count,score")
    assert rows[0]["loss"] == 0.5 and rows[0]["loss.min"] == 0.5 and rows[0]["loss.count"] == 2
    assert rows[0]["score"] == 7.0
    assert os.environ.get("RUNYARD_KEY") is None


def test_without_inline_each_call_step_has_its_own_process(project: Project) -> None:
    project.file("steps.py", STEPS.replace("breakpoint()", "pass"))
    project.spec(SPEC)
    done = _run(project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert runyard.load("default", "second", home=project.home)["same_pid"] == 0.0


def test_inline_failures_and_timeouts_are_recorded(project: Project) -> None:
    project.file("steps.py", STEPS)
    project.spec("""
        experiment: bad
        steps:
          broken: {call: steps:broken}
          slow: {call: steps:slow, timeout: 1, needs: []}
          after: {call: steps:first, needs: [broken]}
    """)
    done = _run(project, "--inline", "-j", "1")
    assert done.returncode == 1, done.stdout + done.stderr
    steps = {s["name"]: s for s in show_json(project, "default")["steps"]}
    assert steps["broken"]["status"] == "failed" and steps["broken"]["exit_code"] == 1
    log = Path(steps["broken"]["log"]).read_text()
    assert "Traceback" in log and "RuntimeError: inline failure" in log
    assert steps["slow"]["status"] == "failed" and steps["slow"]["error"] == "timed out after 1 s"
    assert "runyard: timed out after 1 s" in Path(steps["slow"]["log"]).read_text()
    assert steps["after"]["status"] == "waiting"


RUNS = '''
def summarize(runs, column="loss"):
    return {"mean": float(runs[column].mean()), "n": float(len(runs))}


def needs_runs(runs):
    return 1
'''


def test_a_runs_parameter_receives_the_run_table(tmp_path: Path) -> None:
    (tmp_path / "agg.py").write_text(RUNS)
    table = tmp_path / "runs.csv"
    table.write_text("name,lr,loss\na,0.1,1.0\nb,0.2,3.0\n")
    out = tmp_path / "out"
    out.mkdir()
    metrics = tmp_path / "metrics.jsonl"
    env = {**os.environ, "RUNYARD_RUNS": str(table), "RUNYARD_OUT": str(out), "RUNYARD_METRICS": str(metrics),
           "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "runyard.call", "agg:summarize", "--params", '{"column": "loss"}'],
                          cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "result.json").read_text()) == {"mean": 2.0, "n": 2.0}
    point = json.loads(metrics.read_text().splitlines()[0])
    assert point["mean"] == 2.0 and point["n"] == 2.0
    del env["RUNYARD_RUNS"]
    done = subprocess.run([sys.executable, "-m", "runyard.call", "agg:needs_runs"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert done.stderr == ("runyard: parameter 'runs' receives the run table of an aggregating step "
                           "($RUNYARD_RUNS), which is not set for this step\n")


def test_the_runner_rejects_bad_arguments(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "runyard.call", "agg:summarize", "--params", "[1]"],
                          cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "--params must be a JSON object" in done.stderr
    done = subprocess.run([sys.executable, "-m", "runyard.call", "nowhere:f"], cwd=tmp_path, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith("runyard: cannot import module 'nowhere': ModuleNotFoundError")


def test_ctrl_c_interrupts_an_inline_step_and_the_next_run_resumes(project: Project) -> None:
    import signal

    project.file("sleepy.py", '''
import os, time

def sleepy(seed=1):
    if not os.path.exists("started"):
        open("started", "w").close()
        time.sleep(60)
    return {"seed": seed}

def after(sleepy):
    return sleepy["seed"] + 1
''')
    project.spec("experiment: sl\nsteps:\n  sleepy: {call: sleepy:sleepy}\n  after: {call: sleepy:after}\n")
    proc = project.start("run", "--inline")
    wait_for(lambda: (project.root / "started").exists(), what="the inline step to start")
    os.kill(proc.pid, signal.SIGINT)
    assert proc.wait(30) == 130, project.output_of(proc)
    steps = {s["name"]: s["status"] for s in show_json(project, "default")["steps"]}
    assert steps == {"sleepy": "interrupted", "after": "waiting"}
    assert "interrupted: run the same command again to resume" in project.output_of(proc)
    done = _run(project, "--inline")
    assert done.returncode == 0, done.stdout + done.stderr
    assert runyard.load("default", home=project.home) == 2


def test_an_unreadable_run_table_is_a_clear_failure(tmp_path: Path) -> None:
    (tmp_path / "agg.py").write_text(RUNS)
    env = {**os.environ, "RUNYARD_RUNS": str(tmp_path / "missing.csv"), "RUNYARD_OUT": str(tmp_path),
           "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "runyard.call", "agg:summarize"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith(f"runyard: parameter 'runs': cannot read the run table {tmp_path / 'missing.csv'} "
                                  "($RUNYARD_RUNS): FileNotFoundError")
    assert not (tmp_path / "result.meta.json").exists()


def test_a_long_inline_step_keeps_its_lease(project: Project) -> None:
    project.file("long.py", """
import time

def long(seconds=4.0):
    with open("calls.txt", "a") as handle:
        handle.write("long\\n")
    time.sleep(seconds)
    return {"slept": seconds}
""")
    project.spec("experiment: long\nsteps:\n  long: {call: long:long}\n")
    first = project.start("run", "--inline", "--lease", "1")
    wait_for(lambda: (project.root / "calls.txt").exists(), what="the inline step to start")
    # another worker on the same store takes back executions whose lease expired: this one must not expire
    second = _run(project, "--lease", "1")
    assert first.wait(30) == 0, project.output_of(first)
    assert second.returncode == 0, second.stdout + second.stderr
    assert (project.root / "calls.txt").read_text() == "long\n"
    with project.store() as store:
        (ex,) = store.executions("long")
    assert ex.status == "done" and ex.attempts == 1


def test_an_inline_step_whose_workdir_is_missing_fails_to_start(project: Project) -> None:
    project.file("steps.py", STEPS)
    project.spec("experiment: wd\nsteps:\n  first: {call: steps:first, workdir: nowhere}\n")
    done = _run(project, "--inline")
    assert done.returncode == 1, done.stdout + done.stderr
    step = show_json(project, "default")["steps"][0]
    assert step["status"] == "failed" and step["error"].startswith("could not start: cannot start step in ")
    assert "runyard: could not start the step: cannot start step in" in Path(step["log"]).read_text()
