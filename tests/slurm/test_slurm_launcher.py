"""The launcher contract suite on the Slurm launcher, against the session's one-node cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runyard.execute.launchers import open_launcher, register
from runyard.execute.launchers.base import Handle, Launcher
from runyard.execute.launchers.slurm import SlurmHandle, SlurmLauncher
from runyard.execute.slurm_jobs import cancel
from runyard.testing.launcher_contract import LauncherContract
from runyard.testing.slurmcluster import SlurmCluster
from runyard.testing.store_helpers import FakeClock


class TestSlurmLauncher(LauncherContract):
    @pytest.fixture
    def launcher(self, clock: FakeClock, slurm_cluster: SlurmCluster) -> Iterator[Launcher]:
        register("slurm-test", lambda clock: SlurmLauncher(clock, env=slurm_cluster.env))
        launcher = open_launcher("slurm-test", clock)
        assert isinstance(launcher, SlurmLauncher)
        self.env = slurm_cluster.env
        yield launcher
        launcher.close()

    def lose(self, handle: Handle) -> None:
        """Someone cancels the step's job behind the worker's back (``scancel JOBID``)."""
        assert isinstance(handle, SlurmHandle)
        cancel(handle.job, env=self.env)
