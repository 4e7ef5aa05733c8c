"""The local launcher's process code (launch, Child, terminate) and the process-group helpers: real
processes under tmp_path, synchronised by files the children write."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from runyard.errors import LaunchError
from runyard.execute import launch as launch_mod
from runyard.execute.guardian import Guardian
from runyard.execute.launchers import local as local_mod
from runyard.execute.launchers.local import Child, launch, terminate
from runyard.execute.processes import group_alive, kill_orphan_group, process_start_time, signal_group
from runyard.testing import processes
from runyard.testing.processes import process_running, wait_for

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes")
LINUX = sys.platform.startswith("linux")


def run(tmp_path: Path, command: str, **kw: object) -> tuple[int, str]:
    log = tmp_path / "step.log"
    child = start(tmp_path, command, **kw)
    code = child.wait(30)
    child.close()
    assert code is not None, "step did not finish"
    return code, log.read_text()


def start(tmp_path: Path, command: str, **kw: object) -> Child:
    args: dict[str, object] = {"cwd": str(tmp_path), "log_path": str(tmp_path / "step.log"), "env_extra": {}}
    args.update(kw)
    return launch(command, **args)  # type: ignore[arg-type]


def read_pids(path: Path, n: int) -> list[int]:
    wait_for(lambda: path.exists() and len(path.read_text().split()) >= n, timeout=10, what=f"{n} pids in {path}")
    return [int(p) for p in path.read_text().split()]


# ------------------------------------------------------------------------------- logging and environment
def test_log_gets_stdout_and_stderr_appended(tmp_path: Path) -> None:
    (tmp_path / "step.log").write_text("before\n")
    code, log = run(tmp_path, "echo a && echo b >&2")
    assert code == 0
    assert log == "before\na\nb\n"
    code, log = run(tmp_path, "echo c")
    assert log == "before\na\nb\nc\n"


def test_env_visible_to_every_part_of_a_compound_command(tmp_path: Path) -> None:
    py = f'{sys.executable} -c \'import os; print("3=" + os.environ["RY_X"])\''
    cmd = f"echo 1=$RY_X && bash -c 'echo 2=$RY_X' ; {py}"
    code, log = run(tmp_path, cmd, env_extra={"RY_X": "hello world", "CUDA_VISIBLE_DEVICES": ""})
    assert code == 0
    assert log.splitlines() == ["1=hello world", "2=hello world", "3=hello world"]


def test_environment_inherits_os_environ_and_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RY_INHERITED", "yes")
    monkeypatch.setenv("RY_OVERRIDE", "old")
    _, log = run(tmp_path, "echo $RY_INHERITED $RY_OVERRIDE", env_extra={"RY_OVERRIDE": "new"})
    assert log == "yes new\n"


def test_cwd(tmp_path: Path) -> None:
    sub = tmp_path / "work dir"
    sub.mkdir()
    _, log = run(tmp_path, "pwd", cwd=str(sub))
    assert os.path.realpath(log.strip()) == os.path.realpath(sub)


def test_stdin_is_dev_null(tmp_path: Path) -> None:
    _, log = run(tmp_path, "cat; echo end")
    assert log == "end\n"


def test_pythonpath_prepended(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", "/old/path")
    _, log = run(tmp_path, "echo $PYTHONPATH", pythonpath_first="/spec/folder")
    assert log.strip() == f"/spec/folder{os.pathsep}/old/path"
    monkeypatch.delenv("PYTHONPATH")
    (tmp_path / "step.log").unlink()
    (tmp_path / "mymod.py").write_text("VALUE = 42\n")
    other = tmp_path / "elsewhere"
    other.mkdir()
    cmd = f"{sys.executable} -c 'import mymod, os; print(mymod.VALUE, os.environ[\"PYTHONPATH\"])'"
    code, log = run(tmp_path, cmd, cwd=str(other), pythonpath_first=str(tmp_path))
    assert code == 0 and log == f"42 {tmp_path}\n"


def test_hostile_command_text_passed_verbatim(tmp_path: Path) -> None:
    cmd = """echo "$(echo sub)" '$(echo literal)' "a'b" 'c"d' \\$HOME; printf '%s|' x\\ y "z  w" ; echo"""
    expected = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, cwd=tmp_path, check=True).stdout
    code, log = run(tmp_path, cmd)
    assert code == 0 and log == expected
    assert log.startswith("sub $(echo literal) a'b c\"d $HOME\nx y|z  w|")


@pytest.mark.skipif(not LINUX, reason="/proc")
def test_argv_is_exactly_bash_dash_c_command(tmp_path: Path) -> None:
    cmd = "sleep 5; true # '\"$(x)` ; > /tmp/nothing"
    child = start(tmp_path, cmd)
    try:

        def argv() -> list[bytes]:  # the bash of the group (the leader, or the child of `timeout`)
            for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
                try:
                    if os.getpgid(pid) != child.pgid:
                        continue
                    found = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
                except OSError:
                    continue
                if found and os.path.basename(found[0]) == b"bash":  # exec'ing leaves a moment with no cmdline
                    return found
            return []

        wait_for(lambda: len(argv()) >= 3, timeout=5, what="bash's argv")
        assert argv()[1:] == [b"-c", cmd.encode()]
    finally:
        terminate(child, grace=1)
        child.close()
    assert (tmp_path / "step.log").read_text() == ""


# ------------------------------------------------------------------------------- process group, codes
def test_own_process_group_and_fields(tmp_path: Path) -> None:
    before = time.time()
    child = start(tmp_path, "sleep 5")
    try:
        assert child.pgid == child.pid == os.getpgid(child.pid)
        assert child.pgid != os.getpgrp()
        assert before <= child.started_wall <= time.time()
        assert child.started <= time.monotonic()
        assert child.poll() is None and child.returncode is None
        if LINUX:
            started = process_start_time(child.pid)
            assert started is not None and abs(started - child.started_wall) < 2.0
    finally:
        terminate(child, grace=1)
        child.close()


@pytest.mark.parametrize(
    ("command", "code", "sig"),
    [("true", 0, None), ("exit 3", 3, None), ("false", 1, None), ("kill -TERM $$", 143, 15), ("kill -9 $$", 137, 9)],
)
def test_exit_and_signal_codes(tmp_path: Path, command: str, code: int, sig: int | None) -> None:
    child = start(tmp_path, command)
    assert child.wait(10) == code
    assert child.returncode == code and child.signaled == sig
    child.close()


def test_pidfd_readable_on_exit_with_many_children(tmp_path: Path) -> None:
    children = [start(tmp_path, f"sleep {d}", log_path=str(tmp_path / f"{i}.log")) for i, d in enumerate([0.3, 0.1, 5])]
    sel = selectors.DefaultSelector()
    for c in children:
        sel.register(c, selectors.EVENT_READ, c)
    assert sel.select(0) == []
    order = []
    t0 = time.monotonic()
    while len(order) < 2 and time.monotonic() - t0 < 10:
        for key, _ in sel.select(10):
            child = key.data
            assert child.poll() == 0
            sel.unregister(child)
            child.close()
            order.append(children.index(child))
    assert order == [1, 0]
    assert time.monotonic() - t0 < 3
    assert sel.select(0.05) == []  # the long one still runs
    assert terminate(children[2], grace=1) == 143
    children[2].close()
    sel.close()


def test_fileno_without_pidfd_uses_a_waiter_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_mod, "_USE_PIDFD", False)
    child = start(tmp_path, "sleep 0.2; exit 4")
    sel = selectors.DefaultSelector()
    sel.register(child, selectors.EVENT_READ)
    assert sel.select(0) == []
    assert len(sel.select(10)) == 1
    assert child.wait(5) == 4
    sel.unregister(child)
    child.close()
    sel.close()


def test_wait_timeout(tmp_path: Path) -> None:
    child = start(tmp_path, "sleep 5")
    t0 = time.monotonic()
    assert child.wait(0.2) is None
    assert 0.15 < time.monotonic() - t0 < 2
    signal_group(child.pgid, signal.SIGKILL)
    assert child.wait(5) == 137
    child.close()


# ------------------------------------------------------------------------------- stopping
def test_terminate_term_is_enough(tmp_path: Path) -> None:
    child = start(tmp_path, "sleep 30")
    t0 = time.monotonic()
    assert terminate(child, grace=5) == 143
    assert time.monotonic() - t0 < 2
    child.close()


def test_terminate_escalates_to_kill_when_term_is_trapped(tmp_path: Path) -> None:
    child = start(tmp_path, f"trap 'echo got-term' TERM; touch {tmp_path / 'trapped'}; while true; do sleep 0.05; done")
    wait_for(lambda: (tmp_path / "trapped").exists(), what="bash to install its trap")
    t0 = time.monotonic()
    assert terminate(child, grace=0.5) == 137
    elapsed = time.monotonic() - t0
    assert 0.45 < elapsed < 5
    assert child.signaled == signal.SIGKILL
    assert "got-term" in (tmp_path / "step.log").read_text()
    child.close()


def test_whole_group_killed_including_grandchildren(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    child = start(tmp_path, f"sleep 60 & echo $! >> {pids}; (trap '' TERM; sleep 61) & echo $! >> {pids}; wait")
    grandchildren = read_pids(pids, 2)
    assert all(process_running(p) for p in grandchildren)
    t0 = time.monotonic()
    terminate(child, grace=0.5)
    wait_for(lambda: not any(process_running(p) for p in grandchildren), timeout=5, what="the grandchildren to die")
    assert time.monotonic() - t0 < 5
    assert not processes.group_alive(child.pgid)
    assert not signal_group(child.pgid, 0) or not group_alive(child.pgid)
    child.close()


def test_signal_group_on_gone_group(tmp_path: Path) -> None:
    child = start(tmp_path, "true")
    assert child.wait(5) == 0
    wait_for(lambda: not signal_group(child.pgid, 0), timeout=5, what="the group to be gone")
    assert not group_alive(child.pgid)
    child.close()


@pytest.mark.skipif(not LINUX, reason="/proc start times")
def test_kill_orphan_group_checks_start_time(tmp_path: Path) -> None:
    child = start(tmp_path, f"sleep 30 & echo $! > {tmp_path / 'pid'}; wait")
    try:
        read_pids(tmp_path / "pid", 1)
        # a wrong start time means the pgid now belongs to someone else: left alone
        assert not kill_orphan_group(child.pgid, expected_start=child.started_wall - 3600)
        assert child.poll() is None
        assert kill_orphan_group(child.pgid, expected_start=child.started_wall)
        assert child.wait(5) == 137
        # the leader is reaped; its `sleep` got the same SIGKILL but may not have died yet on a busy machine
        wait_for(lambda: not processes.group_alive(child.pgid), timeout=5, what="the killed group to be gone")
        assert not kill_orphan_group(child.pgid, expected_start=child.started_wall)
    finally:
        signal_group(child.pgid, signal.SIGKILL)
        child.wait(5)
        child.close()
    assert not kill_orphan_group(os.getpgrp())
    assert not kill_orphan_group(1)


@pytest.mark.skipif(not LINUX, reason="/proc start times")
def test_kill_orphan_group_without_leader(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    child = start(tmp_path, f"sleep 60 & echo $! > {pids}; exit 0")
    assert child.wait(5) == 0
    (grandchild,) = read_pids(pids, 1)
    assert process_running(grandchild)
    assert group_alive(child.pgid)
    # members started before the step did: not this step's group
    assert not kill_orphan_group(child.pgid, expected_start=child.started_wall + 3600)
    assert kill_orphan_group(child.pgid, expected_start=child.started_wall)
    wait_for(lambda: not process_running(grandchild), timeout=5, what="the grandchild to die")
    child.close()


# ------------------------------------------------------------------------------- errors
def test_missing_cwd_is_a_launch_error(tmp_path: Path) -> None:
    missing = tmp_path / "no such dir"
    with pytest.raises(LaunchError, match="no such dir") as err:
        start(tmp_path, "true", cwd=str(missing))
    assert "No such file" in str(err.value)


def test_unwritable_log_is_a_launch_error(tmp_path: Path) -> None:
    with pytest.raises(LaunchError, match="log file"):
        start(tmp_path, "true", log_path=str(tmp_path / "missing" / "step.log"))


# ------------------------------------------------------------------------------- death with the worker
WORKER = textwrap.dedent(
    """
    import sys, time
    from runyard.execute import launch as L
    from runyard.execute.guardian import Guardian
    from runyard.execute.launchers.local import launch
    mode, folder = sys.argv[1], sys.argv[2]
    if mode == "prctl":
        L._tools["setpriv"] = None
    guardian = Guardian() if mode == "guardian" else None
    cmd = "echo $$ >> pids; sleep 60 & echo $! >> pids; sleep 61 & echo $! >> pids; wait"
    if mode != "guardian":
        cmd = "echo $$ >> pids; exec sleep 60"
    child = launch(cmd, cwd=folder, log_path=folder + "/step.log", env_extra={}, guardian=guardian)
    open(folder + "/ready", "w").write(str(child.pid))
    time.sleep(120)  # until killed
    """
)


@pytest.mark.skipif(not LINUX, reason="PR_SET_PDEATHSIG is Linux only")
@pytest.mark.parametrize("mode", ["setpriv", "prctl", "guardian"])
def test_step_dies_with_its_worker(tmp_path: Path, mode: str) -> None:
    if mode == "setpriv" and launch_mod.deathsig_method() != "setpriv":
        pytest.skip("setpriv with --pdeathsig is not installed")
    src = str(Path(launch_mod.__file__).parents[2])
    env = {**os.environ, "PYTHONPATH": src}
    worker = subprocess.Popen([sys.executable, "-c", WORKER, mode, str(tmp_path)], env=env)
    try:
        n = 3 if mode == "guardian" else 1
        wait_for(lambda: (tmp_path / "ready").exists(), timeout=20, what="the worker to launch its step")
        pids = read_pids(tmp_path / "pids", n)
        assert all(process_running(p) for p in pids)
        worker.kill()
        worker.wait(5)
        wait_for(lambda: not any(process_running(p) for p in pids), timeout=10, what=f"{mode}: the step to die")
    finally:
        worker.kill()
        worker.wait(5)


def test_guardian_close_kills_registered_groups_only(tmp_path: Path) -> None:
    with Guardian() as guardian:
        assert guardian.alive
        kept = start(tmp_path, "sleep 30", guardian=guardian, log_path=str(tmp_path / "a.log"))
        done = start(tmp_path, "sleep 30", guardian=guardian, log_path=str(tmp_path / "b.log"))
        assert kept.guardian is guardian
        terminate(done, grace=1)
        done.close()  # unregisters
        other = start(tmp_path, "sleep 30", log_path=str(tmp_path / "c.log"))
    assert not guardian.alive
    assert kept.wait(5) == 137
    assert other.poll() is None
    terminate(other, grace=1)
    for c in (kept, other):
        c.close()
    guardian.watch(1, 0.0)  # after close: ignored, no error


def test_dead_guardian_falls_back_to_deathsig(tmp_path: Path) -> None:
    guardian = Guardian()
    os.kill(guardian.pid, signal.SIGKILL)
    wait_for(lambda: not guardian.alive, timeout=5, what="the guardian to die")
    child = start(tmp_path, "sleep 5", guardian=guardian)
    assert child.guardian is None
    terminate(child, grace=1)
    child.close()
    guardian.close()
