"""The in-run API: ``runyard.log`` writes the documented format at once, never raises, and is a
one-warning no-op outside runyard; ``params``, ``out_dir``, ``run_id``."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import runyard
from runyard import track
from runyard.execute.extract import jsonl_points


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("RUNYARD_METRICS", "RUNYARD_FOLDER", "RUNYARD_OUT", "RUNYARD_KEY"):
        monkeypatch.delenv(name, raising=False)
    track.reset()
    yield
    track.reset()


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_log_appends_one_json_line_per_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "metrics.jsonl"
    monkeypatch.setenv("RUNYARD_METRICS", str(path))
    runyard.log(loss=0.5, acc=1, step=3)
    runyard.log(loss=0.25)
    got = lines(path)
    assert [{k: v for k, v in line.items() if k != "time"} for line in got] == [
        {"step": 3, "loss": 0.5, "acc": 1}, {"loss": 0.25}]
    assert all(isinstance(line["time"], float) and abs(line["time"] - __import__("time").time()) < 60 for line in got)
    # what the worker reads back: one point per metric, with step and time
    points, bad = jsonl_points(path.read_bytes())
    assert bad == 0
    assert [(p.name, p.value, p.step) for p in points] == [("loss", 0.5, 3), ("acc", 1, 3), ("loss", 0.25, None)]


def test_log_takes_any_number_and_skips_the_rest_with_one_warning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    np = pytest.importorskip("numpy")
    path = tmp_path / "m.jsonl"
    monkeypatch.setenv("RUNYARD_METRICS", str(path))
    for _ in range(2):
        runyard.log(step=np.int64(7), a=np.float32(0.5), b=math.nan, c=math.inf, d=-math.inf, e=True,
                    f="high", g=[1], **{"we\"ird name": 2.0, "time": 5.0})
    runyard.log(step="x", h=1.0)  # type: ignore[arg-type]
    got = lines(path)
    assert got[0] == {"time": got[0]["time"], "step": 7, "a": 0.5, "b": None, "c": math.inf, "d": -math.inf,
                      "e": 1.0, "we\"ird name": 2.0}
    assert "step" not in got[2] and got[2]["h"] == 1.0
    err = capsys.readouterr().err
    assert err.count("f='high' is not a number") == 1 and err.count("g=[1] is not a number") == 1
    assert err.count("'time' is reserved") == 1 and "step='x' is not a whole number" in err
    points, bad = jsonl_points(path.read_bytes())
    assert bad == 0 and math.isnan(next(p.value for p in points if p.name == "b"))


def test_outside_runyard_log_records_nothing_and_warns_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    for i in range(3):
        runyard.log(loss=1.0, step=i)
    err = capsys.readouterr().err
    assert err.count("not inside a runyard step") == 1 and "RUNYARD_METRICS=" in err
    assert list(tmp_path.iterdir()) == []
    assert runyard.params() == {} and runyard.run_id() is None and runyard.out_dir() == tmp_path


def test_a_file_that_cannot_be_opened_is_a_warning_not_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RUNYARD_METRICS", str(tmp_path / "no" / "such" / "folder" / "m.jsonl"))
    runyard.log(loss=1.0)
    runyard.log(loss=2.0)
    assert capsys.readouterr().err.count("cannot open") == 1


def test_params_out_dir_and_run_id_inside_a_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "meta.json").write_text(json.dumps({"key": "k" * 64, "params": {"lr": 0.1, "norm": "batch"}}))
    monkeypatch.setenv("RUNYARD_FOLDER", str(tmp_path))
    monkeypatch.setenv("RUNYARD_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("RUNYARD_KEY", "k" * 64)
    got = runyard.params()
    assert got == {"lr": 0.1, "norm": "batch"}
    got["lr"] = 5
    assert runyard.params()["lr"] == 0.1  # a copy each time
    assert runyard.out_dir() == tmp_path / "out"
    assert runyard.run_id() == "k" * 64


def test_every_point_logged_before_a_kill_9_is_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    code = ("import os, signal, runyard\n"
            "for i in range(1000):\n    runyard.log(loss=i / 7, step=i)\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "RUNYARD_METRICS": str(path)},
                          capture_output=True, timeout=60, check=False)
    assert done.returncode == -signal.SIGKILL
    points, bad = jsonl_points(path.read_bytes())
    assert bad == 0 and [p.step for p in points] == list(range(1000))
    assert points[-1].value == 999 / 7
