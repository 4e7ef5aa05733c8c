"""Each attempt of a step keeps its own log and metrics file: a takeover after ``kill -9`` of the
first worker stores only the second attempt's metrics, ``runyard logs --attempt 1`` prints the first
attempt's log, and meta.json lists both attempts (real ``runyard run`` subprocesses)."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from runyard.testing.faults import Yard, make_yard, wait_for
from runyard.testing.processes import group_alive

STEP = r'''
import os, sys, time, runyard
first = not os.path.exists("tried")
if first:
    open("tried", "w").close()
    for i in range(5):
        runyard.log(loss=100.0 + i, step=i)
    print("first attempt score = 1", flush=True)
    while True:  # killed with its worker
        time.sleep(1)
for i in range(3):
    runyard.log(loss=float(i), step=i)
print("second attempt score = 2", flush=True)
'''


@pytest.fixture
def yard(tmp_path: Path) -> Iterator[Yard]:
    made = make_yard(tmp_path)
    yield made
    made.stop_all()


def stored_points(yard: Yard) -> int:
    if not (yard.home / "runyard.db").exists():
        return 0
    with yard.store() as store:
        found = store.executions()
        return len(store.metric_points(found[0].key)) if found else 0


def test_a_takeover_stores_the_second_attempts_metrics_only(yard: Yard) -> None:
    yard.file("step.py", STEP)
    yard.file("runyard.yaml", """
        experiment: takeover
        steps:
          train: python step.py
        metrics:
          loss: {mode: min}
          score: {regex: 'score = (\\d+)'}
        """)
    first = yard.start("run")
    wait_for(lambda: stored_points(yard) == 6, what="the first attempt's 5 loss points and its score in the store")
    pgid = yard.execution("train").pgid
    assert pgid is not None
    os.kill(first.pid, signal.SIGKILL)
    first.wait(30)
    wait_for(lambda: not group_alive(pgid), what="the first attempt to die with its worker")

    again = yard.run("run")
    assert again.code == 0, again
    ex = yard.execution("train")
    assert str(ex.status) == "done"
    assert [(p.step, p.value) for p in yard.points("train", "loss")] == [(0, 0.0), (1, 1.0), (2, 2.0)]
    assert [p.value for p in yard.points("train", "score")] == [2.0]

    folder = Path(ex.folder)
    assert "second attempt" in (folder / "log").read_text() and "first" not in (folder / "log").read_text()
    assert "first attempt" in (folder / "attempts" / "1" / "log").read_text()
    assert len((folder / "attempts" / "1" / "metrics.jsonl").read_text().splitlines()) == 5
    assert len((folder / "metrics.jsonl").read_text().splitlines()) == 3
    meta = json.loads((folder / "meta.json").read_text())
    assert [(a["attempt"], a["log"]) for a in meta["attempts"]] == [(1, "attempts/1/log"), (2, "log")]
    assert meta["attempts"][0]["status"] == "running"  # as the kill left it
    assert meta["metrics_from"] == {"log": 0, "metrics": 0}  # a fresh log and metrics file

    with yard.store() as store:
        run_id = store.runs("takeover")[0].id[:12]
    latest = yard.run("logs", run_id)
    assert latest.code == 0 and "second attempt" in latest.stdout and "first attempt" not in latest.stdout
    earlier = yard.run("logs", run_id, "--attempt", "1")
    assert earlier.code == 0 and "first attempt" in earlier.stdout and "second" not in earlier.stdout
    assert yard.run("logs", run_id, "--attempt", "2").stdout == latest.stdout
    missing = yard.run("logs", run_id, "--attempt", "3")
    assert missing.code == 2 and "attempt 3 does not exist (attempts: 1, 2)" in missing.stderr, missing
    assert "Traceback" not in missing.output

    # reparse reads the latest attempt's files only
    assert yard.run("reparse").code == 0
    assert [p.value for p in yard.points("train", "loss")] == [0.0, 1.0, 2.0]
    assert [p.value for p in yard.points("train", "score")] == [2.0]


def test_an_old_attempt_still_writing_writes_into_its_own_files(tmp_path: Path) -> None:
    """The previous attempt's files move by rename: a process of it that still runs (a worker cut off
    from the store) keeps writing there, never into the new attempt's log or metrics file."""
    from runyard.execute.attempts import archive_previous, listing, log_of

    folder = tmp_path / "exec"
    folder.mkdir()
    assert archive_previous(str(folder)) is None  # the first attempt: nothing to move
    old_log = open(folder / "log", "a")  # noqa: SIM115 - held open like a running step's stdout
    old_metrics = os.open(folder / "metrics.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    (folder / "meta.json").write_text('{"status": "running", "worker": "w1"}')
    try:
        old_log.write("old 1\n")
        old_log.flush()
        assert archive_previous(str(folder)) == 1
        (folder / "log").write_text("new\n")
        old_log.write("old 2\n")  # the old attempt goes on writing
        old_log.flush()
        os.write(old_metrics, b'{"loss": 9}\n')
    finally:
        old_log.close()
        os.close(old_metrics)
    assert (folder / "log").read_text() == "new\n"
    assert not (folder / "metrics.jsonl").exists()
    assert (folder / "attempts" / "1" / "log").read_text() == "old 1\nold 2\n"
    assert (folder / "attempts" / "1" / "metrics.jsonl").read_text() == '{"loss": 9}\n'
    assert listing(str(folder)) == [{"attempt": 1, "log": "attempts/1/log", "status": "running", "worker": "w1",
                                     "host": None, "started": None, "ended": None}, {"attempt": 2, "log": "log"}]
    assert log_of(str(folder), 1) == (str(folder / "attempts" / "1" / "log"), 2)
    assert log_of(str(folder), None) == log_of(str(folder), 2) == (str(folder / "log"), 2)
    assert archive_previous(str(folder)) == 2 and not (folder / "log").exists()
