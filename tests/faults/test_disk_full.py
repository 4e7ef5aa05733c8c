"""A full disk under home (DESIGN §12: a worker never hangs on the outside world): the step that hit it is
recorded failed with ``disk full writing <path>``, nothing more is launched, and ``runyard run`` /
``runyard worker`` exit 1 with that message, no traceback. The home is on a 2 MB tmpfs mounted by the test."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path

import pytest

from runyard.errors import DiskFull
from runyard.testing.faults import Yard, small_tmpfs

# each run writes far more than 2 MB: to its log (stdout), or to its metrics file
FILL_PY = """
import sys
import runyard

where, x = sys.argv[1], sys.argv[2]
for i in range(100000):
    if where == "log":
        sys.stdout.write(x * 1000 + "\\n")
    else:
        runyard.log(loss=0.5, note=x * 200, step=i)
"""
SPEC = """
    experiment: full
    params: {x: 0}
    steps:
      a: python fill.py WHERE {x}
    sweeps:
      xs: {x: [1, 2, 3]}
    """


@pytest.fixture
def yard(tmp_path: Path) -> Iterator[Yard]:
    with small_tmpfs(tmp_path / "disk") as disk:
        yard = Yard(tmp_path, disk / "home", store_url=f"sqlite:///{tmp_path}/store.db")
        (tmp_path / "fill.py").write_text(FILL_PY)
        try:
            yield yard
        finally:
            yard.stop_all()


def _check_one_failed_none_launched(yard: Yard, message: str) -> None:
    records = yard.executions("full")
    failed = [r for r in records if str(r.status) == "failed"]
    assert len(failed) == 1, [(r.status, r.error) for r in records]
    assert failed[0].error == message
    # nothing launched after it: the other two were never claimed
    assert sorted((str(r.status), r.attempts) for r in records if r is not failed[0]) == [("ready", 0), ("ready", 0)]


def test_a_step_filling_the_disk_with_its_log_fails_it_and_stops_the_run(yard: Yard) -> None:
    yard.spec(SPEC.replace("WHERE", "log"))
    proc = yard.run("run", "--jobs", "1")  # a hang fails the test after 60 s
    assert proc.code == 1, proc
    assert "Traceback" not in proc.output, proc
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("runyard: ")]
    assert len(line) == 1 and line[0].startswith("runyard: disk full writing "), proc
    log = line[0].removeprefix("runyard: disk full writing ")
    assert log.startswith(str(yard.home)) and log.endswith("/log"), log
    _check_one_failed_none_launched(yard, f"disk full writing {log}")


def test_a_step_filling_the_disk_with_metrics_names_the_metrics_file(yard: Yard) -> None:
    yard.spec(SPEC.replace("WHERE", "metrics"))
    proc = yard.run("run", "--jobs", "1")
    assert proc.code == 1, proc
    assert "Traceback" not in proc.output, proc
    path = proc.stderr.strip().splitlines()[-1].removeprefix("runyard: disk full writing ")
    assert path.startswith(str(yard.home)) and path.endswith("/metrics.jsonl"), proc
    _check_one_failed_none_launched(yard, f"disk full writing {path}")


def test_runyard_worker_exits_1_with_the_message(yard: Yard) -> None:
    yard.spec(SPEC.replace("WHERE", "log"))
    assert yard.run("submit").code == 0
    proc = yard.run("worker", "--burst", "--jobs", "1")
    assert proc.code == 1, proc
    assert "Traceback" not in proc.output, proc
    assert proc.stderr.strip().splitlines()[-1].startswith("runyard: disk full writing "), proc
    assert [str(r.status) for r in yard.executions("full")].count("failed") == 1


def test_the_store_on_the_full_disk_too_ends_the_run_with_the_message(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk") as disk:
        yard = Yard(tmp_path, disk / "home")  # the default store: <home>/runyard.db, on the full disk
        (tmp_path / "fill.py").write_text(FILL_PY)
        yard.spec(SPEC.replace("WHERE", "log"))
        proc = yard.run("run", "--jobs", "1")
    assert proc.code == 1, proc
    assert "Traceback" not in proc.output, proc
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("runyard: disk full writing ") and str(disk / "home") in last, proc


@pytest.mark.parametrize(("code", "words"), [(errno.ENOSPC, "disk full"), (errno.EDQUOT, "disk quota exceeded"),
                                             (errno.EIO, "I/O error")])
def test_out_of_space_errors_name_the_path(code: int, words: str) -> None:
    err = DiskFull.of(OSError(code, "x", "/h/log"))
    assert err is not None and str(err) == f"{words} writing /h/log"
    assert DiskFull.of(OSError(errno.EACCES, "x", "/h/log")) is None
