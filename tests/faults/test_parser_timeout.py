"""User parsers run in a process of their own with a timeout (real ``runyard run`` subprocesses): one
that hangs, raises or dies fails its own metric with the reason; the step stays done and keeps its
other metrics; the worker stays responsive to SIGTERM while a parser hangs."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from runyard.testing.faults import Yard, make_yard, wait_for
from runyard.testing.processes import process_running

TOOLS = r'''
import os, time
from pathlib import Path


def hang(folder):
    Path(os.environ["HANG_PID"]).write_text(str(os.getpid()))
    while True:
        time.sleep(1)


def boom(folder):
    raise RuntimeError("no scores here")


def dies(folder):
    os._exit(3)


def good(folder):
    print("noise on stdout never corrupts the answer")
    time.sleep(0.5)  # its work takes longer than the worker's look at a stop request (0.1 s)
    return {"good": [1, 2, 3], "lines": len((folder / "log").read_text().splitlines())}
'''

STEP = "import runyard\nfor i in range(3):\n    runyard.log(loss=i / 10, step=i)\nprint('score = 7')\n"


@pytest.fixture
def yard(tmp_path: Path) -> Iterator[Yard]:
    made = make_yard(tmp_path)
    yield made
    made.stop_all()


def spec(yard: Yard, hang_timeout: str) -> Path:
    yard.file("tools.py", TOOLS)
    yard.file("step.py", STEP)
    yard.file("runyard.yaml", f"""
        experiment: parsers
        steps:
          train: python step.py
        metrics:
          score: {{regex: 'score = (\\d+)'}}
          hang: {{parser: 'tools:hang', timeout: {hang_timeout}}}
          boom: {{parser: 'tools:boom'}}
          dies: {{parser: 'tools:dies'}}
          good: {{parser: 'tools:good'}}
        """)
    return yard.root / "hang.pid"


def test_a_hanging_raising_or_dying_parser_fails_its_metric_only(yard: Yard, monkeypatch: pytest.MonkeyPatch) -> None:
    pid_file = spec(yard, "2s")
    monkeypatch.setenv("HANG_PID", str(pid_file))
    done = yard.run("run")
    assert done.code == 0, done
    ex = yard.execution("train")
    assert str(ex.status) == "done" and ex.exit_code == 0
    assert ex.error is not None and ex.error.startswith("metrics warning: ")
    assert "metric 'hang': parser tools:hang timed out after 2 s" in ex.error
    assert "metric 'boom': parser tools:boom raised RuntimeError: no scores here" in ex.error
    assert "metric 'dies': parser tools:dies exited with code 3 without a result" in ex.error
    points = {(p.name, p.step): p.value for p in yard.points("train")}
    assert points == {("loss", 0): 0.0, ("loss", 1): 0.1, ("loss", 2): 0.2, ("score", 0): 7.0,
                      ("good", 0): 1.0, ("good", 1): 2.0, ("good", 2): 3.0, ("lines", None): 1.0}
    assert not process_running(int(pid_file.read_text()))  # the hung parser was killed
    meta = json.loads((Path(ex.folder) / "meta.json").read_text())
    assert len(meta["metric_problems"]) == 3 and meta["status"] == "done"
    log = (Path(ex.folder) / "log").read_text()
    assert "runyard: metrics: metric 'hang': parser tools:hang timed out after 2 s" in log
    with yard.store() as store:
        run_id = store.runs("parsers")[0].id
    shown = yard.run("show", run_id[:12])
    assert shown.code == 0 and "\n  metrics warning: " in shown.stdout and "timed out after 2 s" in shown.stdout


def test_sigterm_during_a_hung_parser_ends_the_worker(yard: Yard, monkeypatch: pytest.MonkeyPatch) -> None:
    pid_file = spec(yard, "10m")
    monkeypatch.setenv("HANG_PID", str(pid_file))
    proc = yard.start("run")
    parser = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), what="the parser to hang"))
    os.kill(proc.pid, signal.SIGTERM)
    proc.wait(30)  # a bound on the end, far below the parser's 10 minutes
    assert not process_running(parser)
    ex = yard.execution("train")
    assert str(ex.status) == "done"  # the step itself had ended well
    assert ex.error is not None and "metric 'hang': parser tools:hang was stopped: the worker is stopping" in ex.error
    assert {p.name for p in yard.points("train")} == {"loss", "score", "good", "lines"}


def test_a_hung_parser_dies_with_a_worker_killed_with_sigkill(yard: Yard, monkeypatch: pytest.MonkeyPatch) -> None:
    pid_file = spec(yard, "10m")
    monkeypatch.setenv("HANG_PID", str(pid_file))
    proc = yard.start("run")
    parser = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), what="the parser to hang"))
    assert process_running(parser)
    os.kill(proc.pid, signal.SIGKILL)  # nothing of the worker runs after this: no stop, no cleanup
    proc.wait(30)
    wait_for(lambda: not process_running(parser), timeout=30, what="the parser to die with its worker")



def test_a_timeout_is_checked_when_the_spec_loads(yard: Yard) -> None:
    yard.file("tools.py", TOOLS)
    yard.file("runyard.yaml", """
        experiment: parsers
        steps:
          train: python step.py
        metrics:
          score: {regex: 'score = (\\d+)', timeout: 5s}
          good: {parser: 'tools:good', timeout: soon}
        """)
    done = yard.run("run")
    assert done.code == 2 and "Traceback" not in done.output, done
    assert "metrics.score.timeout: `timeout:` bounds how long a `parser:` may take: give `parser:` too" in done.stderr
    assert "metrics.good.timeout: 'soon' is not a duration (e.g. 5, 5s, 2m, 1h)" in done.stderr
    assert not (yard.home / "runyard.db").exists()  # nothing written
