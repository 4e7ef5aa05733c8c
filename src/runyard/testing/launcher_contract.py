"""The launcher contract suite: every :class:`~runyard.execute.launchers.base.Launcher` must pass it.

Use it by subclassing in a test module and providing a ``launcher`` fixture built with the suite's
``clock`` (a :class:`~runyard.testing.store_helpers.FakeClock`: timeouts and grace periods pass when the
test says so, not by waiting)::

    from runyard.testing.launcher_contract import LauncherContract

    class TestMyLauncher(LauncherContract):
        @pytest.fixture
        def launcher(self, clock):
            launcher = MyLauncher(clock)
            yield launcher
            launcher.close()

Every step is a call step (``python -m runyard.call runyard.testing.launcher_steps:NAME``), so any launcher
that runs call steps runs them; steps report through files (:mod:`runyard.testing.launcher_steps`).  The
launcher's :class:`~runyard.execute.launchers.base.Capabilities` decide which tests apply: the others are
skipped, saying why.  A launcher whose steps run elsewhere overrides :meth:`LauncherContract.lose` (how its
child gets lost).
"""

from __future__ import annotations

import json
import os
import selectors
import shlex
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from runyard.execute.launchers.base import Exit, Handle, Launcher, LaunchRequest
from runyard.layout import ExecutionPaths
from runyard.testing.processes import group_alive, process_running, wait_for
from runyard.testing.store_helpers import FakeClock

__all__ = ["LauncherContract", "wait_exit"]

STEPS = "runyard.testing.launcher_steps"


def wait_exit(handle: Handle, timeout: float = 60.0) -> Exit:
    """Poll ``handle`` until it gives its Exit, waiting on its descriptor in between (when it has one)."""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        fd = handle.fileno()
        if fd is not None:
            selector.register(fd, selectors.EVENT_READ)
        while (ended := handle.poll()) is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out after {timeout} s waiting for the step to end")
            if fd is None:
                return wait_for(handle.poll, timeout=left, what="the step to end")  # type: ignore[no-any-return]
            selector.select(min(left, 0.5))
    return ended


class LauncherContract:
    """The tests every launcher passes (a subclass provides the ``launcher`` fixture)."""

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock(1000.0)

    @pytest.fixture
    def launcher(self, clock: FakeClock) -> Iterator[Launcher]:
        raise NotImplementedError("a launcher contract test module provides the `launcher` fixture")

    # --- helpers ------------------------------------------------------------------------------------
    def request(self, tmp_path: Path, step: str, *, timeout: float | None = None, grace: float = 10.0,
                env: dict[str, str] | None = None, **params: Any) -> LaunchRequest:
        command = f"python -m runyard.call {STEPS}:{step} --params {shlex.quote(json.dumps(params))}"
        path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
        out = ExecutionPaths(str(tmp_path)).out
        return LaunchRequest(command, cwd=str(tmp_path), log_path=str(tmp_path / "step.log"),
                             env={"PATH": path, "RUNYARD_OUT": str(out), **(env or {})},
                             pythonpath_first=str(tmp_path / "spec"), timeout=timeout, grace=grace, kind="call")

    def run(self, launcher: Launcher, request: LaunchRequest) -> Exit:
        with closing(launcher.start(request)) as handle:
            return wait_exit(handle)

    def needs(self, launcher: Launcher, capability: str) -> None:
        if not getattr(launcher.capabilities, capability):
            reason = launcher.capabilities.limits.get(capability, "not supported")
            pytest.skip(f"{launcher.name} launcher: no {capability}: {reason}")

    def started(self, launcher: Launcher, tmp_path: Path, step: str, **options: Any) -> tuple[Handle, list[int]]:
        """Start a step that publishes pids in ``ready`` and waits for ``release``; wait for its pids."""
        ready = tmp_path / "ready"
        handle = launcher.start(self.request(tmp_path, step, ready=str(ready), release=str(tmp_path / "release"),
                                             **options))
        wait_for(ready.exists, what=f"{step} to publish its pids")
        return handle, json.loads(ready.read_text())

    def lose(self, handle: Handle) -> None:
        """Lose the step's process: here, it is killed and reaped behind the launcher's back (its exit status
        goes elsewhere).  Override for a launcher whose steps are not children of this process."""
        if handle.pgid is None:
            pytest.skip("the step has no process group here: override lose()")
        os.killpg(handle.pgid, signal.SIGKILL)
        os.waitpid(handle.pid, 0)

    # --- exit codes ---------------------------------------------------------------------------------
    def test_exit_zero(self, launcher: Launcher, tmp_path: Path) -> None:
        ended = self.run(launcher, self.request(tmp_path, "succeed"))
        assert ended == Exit(0)

    def test_exit_one_when_the_step_raises(self, launcher: Launcher, tmp_path: Path) -> None:
        ended = self.run(launcher, self.request(tmp_path, "fail"))
        assert ended == Exit(1)
        assert "this step fails on purpose" in (tmp_path / "step.log").read_text()

    def test_killed_by_a_signal_is_128_plus_n(self, launcher: Launcher, tmp_path: Path) -> None:
        self.needs(launcher, "own_process")
        ended = self.run(launcher, self.request(tmp_path, "die_by_signal"))
        assert ended == Exit(128 + signal.SIGKILL)

    # --- log and environment ------------------------------------------------------------------------
    def test_stdout_and_stderr_appended_to_the_log(self, launcher: Launcher, tmp_path: Path) -> None:
        (tmp_path / "step.log").write_text("before\n")
        assert self.run(launcher, self.request(tmp_path, "print_both")) == Exit(0)
        log = (tmp_path / "step.log").read_text()
        assert log.startswith("before\n")
        assert "contract: to stdout\n" in log and "contract: to stderr\n" in log

    def test_output_written_to_descriptors_reaches_the_log(self, launcher: Launcher, tmp_path: Path) -> None:
        self.needs(launcher, "own_process")
        assert self.run(launcher, self.request(tmp_path, "write_fds")) == Exit(0)
        log = (tmp_path / "step.log").read_text()
        assert "contract: to fd 1\n" in log and "contract: to fd 2\n" in log

    def test_environment_folder_and_path_seen_by_the_step(self, launcher: Launcher, tmp_path: Path) -> None:
        env = {"RUNYARD_CONTRACT": "a value with spaces", "RUNYARD_OTHER": "'quoted' $NOT_EXPANDED"}
        into = tmp_path / "seen.json"
        assert self.run(launcher, self.request(tmp_path, "show_env", env=env, into=str(into),
                                               names=[*env, "RUNYARD_OUT"])) == Exit(0)
        seen = json.loads(into.read_text())
        assert seen["env"] == {**env, "RUNYARD_OUT": ExecutionPaths(str(tmp_path)).out}
        assert os.path.realpath(seen["cwd"]) == os.path.realpath(tmp_path)
        assert str(tmp_path / "spec") in seen["path"]

    def test_cuda_visible_devices_seen_by_the_step(self, launcher: Launcher, tmp_path: Path) -> None:
        self.needs(launcher, "gpus")
        into = tmp_path / "seen.json"
        for devices in ("3,1", ""):  # fake indices; "" hides every device
            assert self.run(launcher, self.request(tmp_path, "show_env", env={"CUDA_VISIBLE_DEVICES": devices},
                                                   into=str(into), names=["CUDA_VISIBLE_DEVICES"])) == Exit(0)
            assert json.loads(into.read_text())["env"] == {"CUDA_VISIBLE_DEVICES": devices}

    # --- timeouts and termination -------------------------------------------------------------------
    def test_timeout_stops_the_step(self, launcher: Launcher, clock: FakeClock, tmp_path: Path) -> None:
        self.needs(launcher, "timeouts")
        handle = launcher.start(self.request(tmp_path, "block", timeout=0.5, grace=5.0, ready=str(tmp_path / "ready"),
                                             release=str(tmp_path / "release")))
        with closing(handle):
            clock.advance(1.0)  # a launcher on the clock times out now; one on a real timer within 0.5 s
            ended = wait_exit(handle)
        assert ended.reason == "timeout" and ended.code not in (None, 0) and ended.lost is None

    def test_terminate_kills_the_whole_tree(self, launcher: Launcher, tmp_path: Path) -> None:
        self.needs(launcher, "process_tree")
        handle, pids = self.started(launcher, tmp_path, "spawn_tree")
        with closing(handle):
            assert all(process_running(pid) for pid in pids)
            assert handle.poll() is None
            handle.terminate(grace=30.0)
            ended = wait_exit(handle)
        assert ended.code == 128 + signal.SIGTERM and ended.reason == "" and ended.lost is None
        wait_for(lambda: not any(process_running(pid) for pid in pids), what="every process of the tree to be gone")
        if handle.pgid is not None:
            assert not group_alive(handle.pgid)

    def test_terminate_kills_after_the_grace_period(self, launcher: Launcher, clock: FakeClock,
                                                    tmp_path: Path) -> None:
        self.needs(launcher, "process_tree")
        handle, (pid,) = self.started(launcher, tmp_path, "block", ignore_term=True)
        with closing(handle):
            due = clock() + 30.0
            handle.terminate(grace=30.0)
            assert handle.terminating and handle.due == due
            assert handle.poll() is None and process_running(pid)  # SIGTERM is ignored: it runs on
            clock.advance(30.0)
            ended = wait_exit(handle)
        assert ended == Exit(128 + signal.SIGKILL)
        wait_for(lambda: not process_running(pid), what="the step to be gone")

    def test_terminate_without_grace_kills_at_once(self, launcher: Launcher, tmp_path: Path) -> None:
        self.needs(launcher, "process_tree")
        handle, (pid,) = self.started(launcher, tmp_path, "block", ignore_term=True)
        with closing(handle):
            handle.terminate(grace=0)
            ended = wait_exit(handle)
        assert ended == Exit(128 + signal.SIGKILL)
        wait_for(lambda: not process_running(pid), what="the step to be gone")

    def test_a_lost_step_is_reported_lost(self, launcher: Launcher, tmp_path: Path) -> None:
        self.needs(launcher, "own_process")
        handle, (pid,) = self.started(launcher, tmp_path, "block")
        with closing(handle):
            self.lose(handle)
            ended = wait_exit(handle)
        assert ended.code is None and ended.lost, ended
        # killed with its group; on a busy machine it may take a moment to be gone after its leader is reaped
        wait_for(lambda: not process_running(pid), what="the lost step's process to be gone")
