"""A throw-away one-node Slurm cluster for tests and benchmarks, started in a temporary folder.

Every daemon runs from that folder with a configuration of its own and is stopped by its own pid:
``munged`` (own key and socket), ``mariadbd`` (own data folder, on 127.0.0.1 at a free port, no grant
tables), ``slurmdbd`` (accounting: without it a cancelled job's end never reaches ``sacct``),
``slurmctld`` and ``slurmd`` (node ``rynode``: 16 CPUs, 16 GB and ``gpus`` fake GPUs declared in
``gres.conf`` over character devices ``mknod … c 195 N`` made in the folder).  Clients find it through
``SLURM_CONF`` (:attr:`SlurmCluster.env`).

Under pytest-xdist several test processes share one cluster: :func:`shared_cluster` starts it in a folder
all of them see (under a file lock), counts its users, and the last one to leave stops it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from runyard.testing.processes import process_running

__all__ = ["NODE", "SlurmCluster", "SlurmUnavailable", "cluster_for_pytest", "shared_cluster", "start_cluster"]

NODE = "rynode"
PARTITION = "debug"
_DAEMONS = ("munged", "mariadbd", "mysql_install_db", "slurmdbd", "slurmctld", "slurmd", "sbatch", "sacct")


class SlurmUnavailable(RuntimeError):
    """Slurm, munge or MariaDB is not installed (the message says which program is missing)."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _which(program: str) -> str:
    for folder in (*os.environ.get("PATH", "").split(os.pathsep), "/usr/sbin", "/usr/bin", "/sbin"):
        path = Path(folder) / program
        if folder and path.is_file() and os.access(path, os.X_OK):
            return str(path)
    raise SlurmUnavailable(f"{program} not found: install the Debian packages slurm-wlm, slurmdbd, munge and "
                           "mariadb-server to run the Slurm tests")


@dataclass
class SlurmCluster:
    base: Path
    gpus: int
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.base / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """What a client (sbatch, squeue, sacct, scancel) needs to talk to this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    @property
    def partition(self) -> str:
        return PARTITION

    def command(self, *argv: str) -> str:
        """Run a Slurm client against this cluster; its stdout."""
        done = subprocess.run(argv, env={**os.environ, **self.env}, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout

    def stop(self) -> None:
        """Stop every daemon by its pid, the last started first, then remove the folder."""
        for name in reversed(list(self.pids)):
            pid = self.pids.pop(name)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            if not _gone(pid, 30.0):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                _gone(pid, 10.0)
        shutil.rmtree(self.base, ignore_errors=True)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"base": str(self.base), "gpus": self.gpus, "pids": self.pids}))

    @classmethod
    def load(cls, path: Path) -> SlurmCluster:
        data = json.loads(path.read_text())
        return cls(Path(data["base"]), int(data["gpus"]), {k: int(v) for k, v in data["pids"].items()})

    def alive(self) -> bool:
        return bool(self.pids) and all(process_running(pid) for pid in self.pids.values())


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not process_running(pid):
            return True
        time.sleep(0.05)
    return False


def _wait(check: object, what: str, cluster: SlurmCluster, timeout: float = 90.0) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, pid in cluster.pids.items():
            if not process_running(pid):
                raise RuntimeError(f"{name} exited while waiting for {what}; its log: {cluster.base / (name + '.log')}"
                                   f"\n{_tail(cluster.base / (name + '.log'))}")
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what} (logs in {cluster.base})")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _spawn(cluster: SlurmCluster, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> None:
    log = open(cluster.base / f"{name}.log", "ab")  # noqa: SIM115 - handed to the daemon
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                env={**os.environ, **(env or {})}, cwd=cluster.base)
    finally:
        log.close()
    cluster.pids[name] = proc.pid


def _configs(base: Path, gpus: int, ports: Mapping[str, int]) -> None:
    host = socket.gethostname().split(".")[0]
    munge = f"AuthInfo=socket={base / 'munge.sock'}"
    dev = base / "dev"
    dev.mkdir()
    for index in range(gpus):  # what slurmd checks a GPU's File= against: a character device, major 195
        subprocess.run(["mknod", str(dev / f"nvidia{index}"), "c", "195", str(index)], check=True)
    (base / "spool").mkdir()
    (base / "state").mkdir()
    gres = f"Gres=gpu:{gpus} " if gpus else ""
    (base / "slurm.conf").write_text(f"""\
ClusterName=ry{ports['ctld']}
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ports['ctld']}
SlurmdPort={ports['slurmd']}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
{munge}
CredType=cred/munge
StateSaveLocation={base / 'state'}
SlurmdSpoolDir={base / 'spool'}
SlurmctldPidFile={base / 'slurmctld.pid'}
SlurmdPidFile={base / 'slurmd.pid'}
SlurmctldLogFile={base / 'slurmctld.log'}
SlurmdLogFile={base / 'slurmd.log'}
SlurmdParameters=config_overrides
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort={ports['dbd']}
AccountingStoragePass={base / 'munge.sock'}
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=100
GresTypes=gpu
MpiDefault=none
ReturnToService=2
KillWait=2
MinJobAge=3600
InactiveLimit=0
OverTimeLimit=0
NodeName={NODE} NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=16 RealMemory=16000 {gres}State=UNKNOWN
PartitionName={PARTITION} Nodes={NODE} Default=YES MaxTime=INFINITE State=UP
""")
    if gpus:
        (base / "gres.conf").write_text(f"AutoDetect=off\nNodeName={NODE} Name=gpu File={dev}/nvidia[0-{gpus - 1}]\n")
    dbd = base / "slurmdbd.conf"
    dbd.write_text(f"""\
AuthType=auth/munge
{munge}
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort={ports['dbd']}
SlurmUser=root
PidFile={base / 'slurmdbd.pid'}
LogFile={base / 'slurmdbd.log'}
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={ports['db']}
StorageUser=root
StorageLoc=slurm_acct_db
""")
    dbd.chmod(0o600)
    (base / "munge.key").write_bytes(secrets.token_bytes(1024))
    (base / "munge.key").chmod(0o600)


def start_cluster(gpus: int = 4) -> SlurmCluster:
    """Start the cluster (about 10 s); raises :class:`SlurmUnavailable` when a program is missing."""
    programs = {name: _which(name) for name in _DAEMONS}
    if os.geteuid() != 0:
        raise SlurmUnavailable("the test Slurm cluster runs its daemons as root (slurmd must): run the tests as root")
    base = Path(tempfile.mkdtemp(prefix="runyard-slurm-"))
    cluster = SlurmCluster(base, gpus)
    try:
        ports = {name: _free_port() for name in ("ctld", "slurmd", "dbd", "db")}
        _configs(base, gpus, ports)
        _spawn(cluster, "munged", [programs["munged"], "-F", "-f", f"--key-file={base / 'munge.key'}",
                                   f"--socket={base / 'munge.sock'}", f"--pid-file={base / 'munged.pid'}",
                                   f"--log-file={base / 'munged.log'}", f"--seed-file={base / 'munged.seed'}"])
        subprocess.run([programs["mysql_install_db"], f"--datadir={base / 'db'}", "--user=root",
                        "--auth-root-authentication-method=normal", "--skip-test-db"],
                       check=True, capture_output=True, timeout=120)
        _spawn(cluster, "mariadbd", [programs["mariadbd"], "--no-defaults", f"--datadir={base / 'db'}", "--user=root",
                                     "--skip-grant-tables", "--bind-address=127.0.0.1", f"--port={ports['db']}",
                                     f"--socket={base / 'mysqld.sock'}", f"--pid-file={base / 'mysqld.pid'}",
                                     "--innodb-flush-log-at-trx-commit=0", "--skip-log-bin"])
        _wait(lambda: (base / "munge.sock").exists(), "munged's socket", cluster)
        _wait(lambda: _listening(ports["db"]), "MariaDB", cluster)
        conf = {"SLURM_CONF": str(base / "slurm.conf")}
        _spawn(cluster, "slurmdbd", [programs["slurmdbd"], "-D", "-s"], {**conf, "SLURM_DBD_CONF": ""})
        _wait(lambda: _listening(ports["dbd"]), "slurmdbd", cluster)
        _spawn(cluster, "slurmctld", [programs["slurmctld"], "-D", "-i", "-f", str(base / "slurm.conf")], conf)
        _wait(lambda: _listening(ports["ctld"]), "slurmctld", cluster)
        _spawn(cluster, "slurmd", [programs["slurmd"], "-D", "-N", NODE, "-f", str(base / "slurm.conf")], conf)
        _wait(lambda: _node_idle(cluster), "the node to be idle", cluster)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _node_idle(cluster: SlurmCluster) -> bool:
    try:
        state = cluster.command("sinfo", "-h", "-N", "-o", "%T", "-n", NODE).strip()
    except (RuntimeError, subprocess.TimeoutExpired):
        return False
    return state == "idle"


@contextlib.contextmanager
def shared_cluster(folder: Path, gpus: int = 4) -> Iterator[SlurmCluster]:
    """One cluster for every process that passes the same ``folder``: started by the first (under a file
    lock), stopped by the last to leave."""
    folder.mkdir(parents=True, exist_ok=True)
    state, users = folder / "cluster.json", folder / "users"
    with _locked(folder / "lock"):
        cluster = SlurmCluster.load(state) if state.exists() else None
        if cluster is None or not cluster.alive():
            if cluster is not None:  # left by a process killed before it stopped it: its pids may be others' now
                shutil.rmtree(cluster.base, ignore_errors=True)
            cluster = start_cluster(gpus)
            cluster.save(state)
        users.write_text(str(int(users.read_text() or 0) + 1 if users.exists() else 1))
    try:
        yield cluster
    finally:
        with _locked(folder / "lock"):
            left = int(users.read_text() or 1) - 1
            users.write_text(str(left))
            if left <= 0:
                SlurmCluster.load(state).stop()
                state.unlink()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def cluster_for_pytest(folder: Path) -> Iterator[SlurmCluster]:
    """:func:`shared_cluster` for a pytest session: skipped with the reason when Slurm is missing, except when
    the ``CI`` environment variable is set (then it fails: CI must run the Slurm tests)."""
    import pytest

    try:
        with shared_cluster(folder) as cluster:
            yield cluster
    except SlurmUnavailable as err:
        if os.environ.get("CI"):
            pytest.fail(f"{err} (CI is set, so the Slurm tests may not be skipped)")
        pytest.skip(str(err))


def main(argv: list[str] | None = None) -> int:
    """``python -m runyard.testing.slurmcluster start|stop FILE``: start the cluster and keep it running, its
    pids in FILE (``start`` prints the ``export SLURM_CONF=…`` line for a shell), or stop it."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("start", "stop"):
        print("usage: python -m runyard.testing.slurmcluster start|stop FILE", file=sys.stderr)
        return 2
    path = Path(args[1])
    if args[0] == "start":
        gpus = int(os.environ.get("RUNYARD_TEST_GPUS", "4"))
        cluster = start_cluster(gpus)
        cluster.save(path)
        print(f"export SLURM_CONF={cluster.conf}")
        return 0
    SlurmCluster.load(path).stop()
    path.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
