"""A real two-node Ray cluster on this machine for the Ray executor's tests: ``ray start --head`` and a
second ``ray start --address``, each with two fake GPUs (``--num-gpus 2``: Ray only counts them and sets
``CUDA_VISIBLE_DEVICES``) and one CPU, each with a temporary folder of its own.

One cluster serves every test of the run, even under pytest-xdist: the first worker process that needs
it starts it under a file lock and writes where it is in a state file next to the workers' temporary
folders; the others join it; the last worker to finish stops it.  Stopping kills exactly the processes
the two ``ray start`` commands left (each started in a session of its own: their process groups) and
their children (Ray's worker processes), by pid: ``ray stop`` would kill every Ray process of the user.

The cluster has token authentication with a token of its own (``RAY_AUTH_MODE=token``, ``RAY_AUTH_TOKEN``,
set for its nodes, this process and the ``runyard`` commands the tests start): two nodes on one host need
it to agree, whatever ``~/.ray/auth_token`` holds.

Skipped, saying why, when ``ray`` is not importable (CI installs it with the ``dev`` extra; with ``CI``
set the tests fail instead)."""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runyard.testing.processes import process_running, wait_for

RAY = str(Path(sys.executable).with_name("ray"))
GPUS_PER_NODE = 2
#: a lost node is found dead within a few seconds, not Ray's default of half a minute
FAST_FAILURE = {"RAY_health_check_initial_delay_ms": "1000", "RAY_health_check_period_ms": "500",
                "RAY_health_check_timeout_ms": "1000", "RAY_health_check_failure_threshold": "3"}

# found, not imported: Ray reads its authentication settings when it is imported, and they are set below
RAY_MISSING = "" if importlib.util.find_spec("ray") else "ray is not installed: pip install 'runyard[ray]'"


def require_ray() -> None:
    if RAY_MISSING:
        if os.environ.get("CI"):
            pytest.fail(f"{RAY_MISSING} (CI is set, so the Ray tests may not be skipped)")
        pytest.skip(RAY_MISSING)


def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, pgid) of ``pid``, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), int(fields[2])


def processes_of(pgids: list[int]) -> list[int]:
    """Every process of the groups ``pgids`` and all their descendants."""
    table = {int(p): s for p in os.listdir("/proc") if p.isdigit() and (s := _stat(int(p))) is not None}
    found = {pid for pid, (_, pgid) in table.items() if pgid in pgids}
    grew = True
    while grew:
        more = {pid for pid, (ppid, _) in table.items() if ppid in found} - found
        found |= more
        grew = bool(more)
    return sorted(found)


def raylet_of(pgid: int) -> int:
    """The pid of the raylet a ``ray start`` with process group ``pgid`` left."""
    for pid in processes_of([pgid]):
        with contextlib.suppress(OSError):
            argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
            if argv0.endswith(b"/raylet"):
                return pid
    raise AssertionError(f"no raylet in process group {pgid}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RayCluster:
    """Where the test cluster is: its address and the process group of each node's ``ray start``."""

    address: str
    folder: str
    groups: dict[str, int]  # node name → process group
    token: str  # RAY_AUTH_TOKEN

    def start_node(self, name: str, *args: str) -> int:
        """``ray start --address`` one more node (``args``: its resources); its process group."""
        return _ray_start(self.folder, name, self.token, "--address", self.address, *args)

    def kill(self, name: str) -> None:
        """SIGKILL every process of node ``name`` and its children, by pid."""
        kill_groups([self.groups.pop(name)])

    def stop(self) -> None:
        kill_groups(list(self.groups.values()))
        self.groups.clear()


def auth(token: str) -> dict[str, str]:
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}


def _ray_start(folder: str, name: str, token: str, *args: str) -> int:
    out = Path(folder) / f"{name}.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen([RAY, "start", *args, "--temp-dir", str(Path(folder) / name),
                                 "--disable-usage-stats"], stdout=sink, stderr=subprocess.STDOUT,
                                env={**os.environ, **FAST_FAILURE, **auth(token)}, start_new_session=True)
    try:
        proc.wait(timeout=300)
    finally:
        if proc.returncode is None:
            kill_groups([proc.pid])
    if proc.returncode != 0:
        kill_groups([proc.pid])
        raise AssertionError(f"ray start {name} failed ({proc.returncode}):\n{out.read_text(errors='replace')}")
    return proc.pid  # its session and process group: what it left runs in it


def kill_groups(pgids: list[int]) -> None:
    pids = processes_of(pgids)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not any(process_running(pid) for pid in pids), timeout=60, what="the Ray processes to be gone")


def start_cluster(folder: str) -> RayCluster:
    port, token = free_port(), secrets.token_hex(32)
    head = _ray_start(folder, "head", token, "--head", "--port", str(port), "--num-cpus", "1",
                      "--num-gpus", str(GPUS_PER_NODE), "--include-dashboard", "false")
    cluster = RayCluster(f"127.0.0.1:{port}", folder, {"head": head}, token)
    try:
        cluster.groups["second"] = cluster.start_node("second", "--num-cpus", "1", "--num-gpus", str(GPUS_PER_NODE))
    except BaseException:
        cluster.stop()
        raise
    return cluster


@contextlib.contextmanager
def shared_cluster(shared: Path) -> Iterator[RayCluster]:
    """The one cluster of this test run (see the module's docstring)."""
    lock_path, state_path = shared / "ray-cluster.lock", shared / "ray-cluster.json"
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            state = json.loads(state_path.read_text()) if state_path.exists() else None
            if state is None or not state["groups"]:
                folder = tempfile.mkdtemp(prefix="ry")  # short: Ray's socket paths live under it
                cluster = start_cluster(folder)
                state = {"address": cluster.address, "folder": folder, "groups": cluster.groups,
                         "token": cluster.token, "users": 0}
            state["users"] += 1
            state_path.write_text(json.dumps(state))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    cluster = RayCluster(state["address"], state["folder"], dict(state["groups"]), state["token"])
    try:
        yield cluster
    finally:
        with lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = json.loads(state_path.read_text())
            state["users"] -= 1
            if state["users"] == 0:
                RayCluster(state["address"], state["folder"], state["groups"], state["token"]).stop()
                state["groups"] = {}
            state_path.write_text(json.dumps(state))
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayCluster]:
    require_ray()
    shared = tmp_path_factory.getbasetemp().parent if os.environ.get("PYTEST_XDIST_WORKER") else \
        tmp_path_factory.getbasetemp()
    with shared_cluster(shared) as cluster:
        saved = {name: os.environ.get(name) for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")}
        os.environ.pop("RAY_AUTH_TOKEN_PATH", None)
        os.environ.update(auth(cluster.token))  # this process and the commands it starts join with it
        try:
            yield cluster
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@pytest.fixture(scope="session")
def ray_driver(ray_cluster: RayCluster) -> Iterator[RayCluster]:
    """This test process connected to the test cluster (``ray.init``), disconnected at the end."""
    import logging

    import ray

    from runyard.execute.launchers.ray_cluster import refresh_auth

    refresh_auth()  # ray may have been imported before the cluster's token was set
    ray.init(address=ray_cluster.address, logging_level=logging.WARNING, log_to_driver=False,
             configure_logging=False)
    try:
        yield ray_cluster
    finally:
        ray.shutdown()
