"""The warm launcher's slot processes (runyard.execute.launchers.warm): a module imported once for many calls,
each call with its own log; a new process after a crash, a timeout, a stop or a changed module; each process
keeps its CUDA_VISIBLE_DEVICES.  Real processes; the steps tell what they saw through files."""

from __future__ import annotations

import json
import os
import shlex
import signal
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from runyard.execute.launchers import open_launcher
from runyard.execute.launchers.base import Exit, LaunchRequest
from runyard.execute.launchers.warm import WarmLauncher
from runyard.testing.launcher_contract import wait_exit
from runyard.testing.processes import process_running, wait_for
from runyard.testing.store_helpers import FakeClock

MODULE = '''
import json, os, time

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = {version}
with open(os.path.join(HERE, "imports.log"), "a") as f:  # once per import
    f.write(f"{{os.getpid()}}\\n")


def note(into, label="call"):
    print(f"{{label}} says hello", flush=True)
    os.write(2, f"{{label}} on fd 2\\n".encode())
    with open(into, "a") as f:
        f.write(json.dumps({{"label": label, "pid": os.getpid(), "version": VERSION,
                            "devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
                            "only_first": os.environ.get("RUNYARD_ONLY_FIRST")}}) + "\\n")


def crash():
    os._exit(3)


def fail():
    raise ValueError("this call fails on purpose")


def block(ready, release):
    with open(ready + ".part", "w") as f:
        f.write(str(os.getpid()))
    os.replace(ready + ".part", ready)
    while not os.path.exists(release):
        time.sleep(0.01)
'''


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def launcher(clock: FakeClock) -> Iterator[WarmLauncher]:
    opened = open_launcher("warm", clock)
    assert isinstance(opened, WarmLauncher)
    yield opened
    opened.close()


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    folder = tmp_path / "spec"
    folder.mkdir()
    (folder / "wsteps.py").write_text(MODULE.format(version=1))
    return folder


def request(tmp_path: Path, name: str, function: str, *, devices: str | None = None, timeout: float | None = None,
            env: dict[str, str] | None = None, **params: Any) -> LaunchRequest:
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    env = {"PATH": path, "RUNYARD_OUT": str(folder / "out"), **(env or {})}
    if devices is not None:
        env["CUDA_VISIBLE_DEVICES"] = devices
    command = f"python -m runyard.call wsteps:{function} --params {shlex.quote(json.dumps(params))}"
    return LaunchRequest(command, cwd=str(folder), log_path=str(folder / "log"), env=env,
                         pythonpath_first=str(tmp_path / "spec"), timeout=timeout, grace=5.0, kind="call")


def run(launcher: WarmLauncher, req: LaunchRequest) -> Exit:
    with closing(launcher.start(req)) as handle:
        return wait_exit(handle)


def calls(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def imports(spec: Path) -> list[int]:
    return [int(line) for line in (spec / "imports.log").read_text().split()]


def test_one_import_for_many_calls_each_with_its_own_log(launcher: WarmLauncher, spec: Path, tmp_path: Path) -> None:
    into = tmp_path / "calls.jsonl"
    for i in range(5):
        env = {"RUNYARD_ONLY_FIRST": "yes"} if i == 0 else {}
        assert run(launcher, request(tmp_path, f"c{i}", "note", env=env, into=str(into), label=f"call {i}")) == Exit(0)
    (pid,) = imports(spec)  # imported once, by the one process that ran every call
    assert [c["pid"] for c in calls(into)] == [pid] * 5
    assert [c["only_first"] for c in calls(into)] == ["yes", None, None, None, None]  # a call's variables: its own
    for i in range(5):
        log = (tmp_path / f"c{i}" / "log").read_text()
        assert log == f"call {i} says hello\ncall {i} on fd 2\n"  # its own output only, Python's and fd 2's


def test_a_failing_call_keeps_the_process_and_logs_its_traceback(launcher: WarmLauncher, spec: Path,
                                                                 tmp_path: Path) -> None:
    into = tmp_path / "calls.jsonl"
    assert run(launcher, request(tmp_path, "bad", "fail")) == Exit(1)
    log = (tmp_path / "bad" / "log").read_text()
    assert "Traceback" in log and "ValueError: this call fails on purpose" in log
    assert run(launcher, request(tmp_path, "good", "note", into=str(into))) == Exit(0)
    assert len(imports(spec)) == 1


def test_a_new_process_after_a_crash(launcher: WarmLauncher, spec: Path, tmp_path: Path) -> None:
    into = tmp_path / "calls.jsonl"
    assert run(launcher, request(tmp_path, "first", "note", into=str(into))) == Exit(0)
    assert run(launcher, request(tmp_path, "crash", "crash")) == Exit(3)
    assert run(launcher, request(tmp_path, "after", "note", into=str(into))) == Exit(0)
    first, after = calls(into)
    assert first["pid"] != after["pid"] and not process_running(first["pid"])
    assert imports(spec) == [first["pid"], after["pid"]]


def test_a_new_process_after_a_timeout_or_a_stop(launcher: WarmLauncher, clock: FakeClock, spec: Path,
                                                  tmp_path: Path) -> None:
    into = tmp_path / "calls.jsonl"
    pids = []
    for name in ("timeout", "stopped"):
        ready = tmp_path / f"{name}.ready"
        req = request(tmp_path, name, "block", timeout=10.0 if name == "timeout" else None, ready=str(ready),
                      release=str(tmp_path / "never"))
        with closing(launcher.start(req)) as handle:
            wait_for(ready.exists, what="the call to start")
            if name == "timeout":
                clock.advance(11.0)
            else:
                handle.terminate(grace=5.0)
            ended = wait_exit(handle)
        assert ended == Exit(128 + signal.SIGTERM, "timeout" if name == "timeout" else "")
        pids.append(int(ready.read_text()))
        wait_for(lambda: not process_running(pids[-1]), what="the stopped call's process to be gone")
    assert run(launcher, request(tmp_path, "after", "note", into=str(into))) == Exit(0)
    (after,) = calls(into)
    assert after["pid"] not in pids and imports(spec) == [*pids, after["pid"]]


def test_a_new_process_when_the_module_changed(launcher: WarmLauncher, spec: Path, tmp_path: Path) -> None:
    into = tmp_path / "calls.jsonl"
    assert run(launcher, request(tmp_path, "v1", "note", into=str(into))) == Exit(0)
    assert run(launcher, request(tmp_path, "v1-again", "note", into=str(into))) == Exit(0)
    os.utime(spec / "wsteps.py", ns=(1, 1))  # touched, same code: the process stays
    assert run(launcher, request(tmp_path, "touched", "note", into=str(into))) == Exit(0)
    (spec / "wsteps.py").write_text(MODULE.format(version=20))  # another size: no stale bytecode
    assert run(launcher, request(tmp_path, "v2", "note", into=str(into))) == Exit(0)
    seen = calls(into)
    assert [c["version"] for c in seen] == [1, 1, 1, 20]
    assert seen[0]["pid"] == seen[1]["pid"] == seen[2]["pid"] != seen[3]["pid"]
    assert len(imports(spec)) == 2


def test_each_process_keeps_its_cuda_visible_devices(launcher: WarmLauncher, spec: Path, tmp_path: Path) -> None:
    into = tmp_path / "calls.jsonl"
    release = tmp_path / "release"
    handles, pids = [], {}
    for devices in ("0", "1"):  # two slots busy at once: a process each
        ready = tmp_path / f"ready-{devices}"
        handles.append(launcher.start(request(tmp_path, f"block-{devices}", "block", devices=devices,
                                              ready=str(ready), release=str(release))))
        wait_for(ready.exists, what="the call to start")
        pids[devices] = int(ready.read_text())
    release.touch()
    for handle in handles:
        with closing(handle):
            assert wait_exit(handle) == Exit(0)
    for devices in ("1", "0", "1"):
        assert run(launcher, request(tmp_path, f"note-{len(calls(into)) if into.exists() else 0}", "note",
                                     devices=devices, into=str(into))) == Exit(0)
    assert [(c["devices"], c["pid"]) for c in calls(into)] == [("1", pids["1"]), ("0", pids["0"]), ("1", pids["1"])]
    assert sorted(imports(spec)) == sorted(pids.values())
    assert len(launcher.processes) == 2


def test_close_kills_the_slot_processes(clock: FakeClock, spec: Path, tmp_path: Path) -> None:
    launcher = WarmLauncher(clock)
    ready = tmp_path / "ready"
    launcher.start(request(tmp_path, "block", "block", ready=str(ready), release=str(tmp_path / "never")))
    wait_for(ready.exists, what="the call to start")
    launcher.close()
    assert not process_running(int(ready.read_text()))
