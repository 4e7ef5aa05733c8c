"""One Slurm cluster for the test session (``runyard.testing.slurmcluster``), shared by every pytest-xdist
worker of the run: started by the first that needs it, stopped by the last. Skipped, saying why, where Slurm,
munge or MariaDB is not installed (except under CI)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from runyard.testing.slurmcluster import SlurmCluster, cluster_for_pytest


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    base = tmp_path_factory.getbasetemp()
    with cluster_for_pytest(base.parent / f"slurm-{run}" if run else base / "slurm") as cluster:
        yield cluster
