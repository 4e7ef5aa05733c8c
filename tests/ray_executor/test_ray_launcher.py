"""The launcher contract suite (runyard.testing.launcher_contract) on the Ray launcher, against the test
cluster of two nodes (conftest.py): every step is a Ray task, signalled through the node agents."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from runyard.execute.launchers.base import Handle, Launcher
from runyard.testing.launcher_contract import LauncherContract
from runyard.testing.processes import wait_for
from runyard.testing.store_helpers import FakeClock

from .conftest import RayCluster


def ray_worker_of(token: str) -> int:
    """The pid of the Ray worker process running step ``token``: the parent of the step's group leader."""
    from runyard.execute.launchers.ray_task import signal_folder

    mark = signal_folder() / f"{token}.pgid"
    pgid = int(wait_for(lambda: mark.exists() and mark.read_text(), what="the step's process group"))
    with open(f"/proc/{pgid}/stat", "rb") as handle:
        return int(handle.read().rsplit(b")", 1)[1].split()[1])


class TestRayLauncher(LauncherContract):
    @pytest.fixture
    def launcher(self, clock: FakeClock, ray_driver: RayCluster) -> Iterator[Launcher]:
        from runyard.execute.launchers import open_launcher
        from runyard.execute.launchers.ray_launcher import RayLauncher

        launcher = open_launcher("ray", clock)
        assert isinstance(launcher, RayLauncher)
        yield launcher
        launcher.close()

    def lose(self, handle: Handle) -> None:
        """The Ray worker running the step is killed: Ray reports the task failed without a result."""
        os.kill(ray_worker_of(handle.token), signal.SIGKILL)  # type: ignore[attr-defined]
