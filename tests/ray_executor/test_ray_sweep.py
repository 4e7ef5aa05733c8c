"""Sweeps run by ``runyard run --executor ray`` on the test cluster (conftest.py): the GPUs Ray gives each
step, a node lost in the middle of a sweep, and a cancel reaching the step's process on its node.

The lost node is a third node each run of the test starts and kills (its raylet first, with SIGKILL), so
the other tests, which may run at the same time on the same cluster, keep their two nodes.

Every step appends ``start``/``end`` lines (node, CUDA_VISIBLE_DEVICES, key, attempt, pid) to an evidence
file with one O_APPEND write each, so the file's order is the order things happened in."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from runyard.layout import ExecutionPaths
from runyard.model import Status
from runyard.store import open_store
from runyard.testing.processes import complete_lines, process_running, wait_for

from .conftest import RayCluster, raylet_of

RUNYARD = str(Path(sys.executable).with_name("runyard"))

STEP_PY = r'''
import os, sys, time

EVIDENCE, HOLD = sys.argv[1], sys.argv[2]
KEY, ATTEMPT = os.environ["RUNYARD_KEY"], os.environ["RUNYARD_ATTEMPT"]
NODE, DEVICES = os.environ.get("RUNYARD_RAY_NODE", "?"), os.environ.get("CUDA_VISIBLE_DEVICES", "unset")


def note(event):
    fd = os.open(EVIDENCE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{event} {NODE} {DEVICES or '-'} {KEY} {ATTEMPT} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


note("start")
end = time.monotonic() + 120
if ATTEMPT == "1" and HOLD != "-":  # the first attempt waits for the test to let it go
    while not os.path.exists(HOLD) and time.monotonic() < end:
        time.sleep(0.02)
else:
    time.sleep(0.2)  # the work: long enough for steps to overlap
note("end")
'''

SPEC = """
experiment: {experiment}
params: {{i: 0}}
steps:
  prep:
    run: python step.py {evidence} - {{i}}
    retries: 2
  train:
    run: python step.py {evidence} {hold} {{i}} {{prep.out}}
    gpus: 1
    retries: 2
sweeps:
  all: {{i: [{values}]}}
resources: {{per_gpu: {per_gpu}}}
"""


@dataclass(frozen=True)
class Line:
    event: str
    node: str
    devices: str
    key: str
    attempt: int
    pid: int


def evidence(path: Path) -> list[Line]:
    if not path.exists():
        return []
    return [Line(e, n, d, k, int(a), int(p)) for e, n, d, k, a, p in
            (line.split() for line in complete_lines(path))]


def sweep(tmp_path: Path, experiment: str, runs: int, *, per_gpu: int = 1, hold: str = "-") -> Path:
    (tmp_path / "step.py").write_text(STEP_PY)
    spec = tmp_path / "runyard.yaml"
    spec.write_text(SPEC.format(experiment=experiment, evidence=tmp_path / "evidence", hold=hold, per_gpu=per_gpu,
                                values=", ".join(map(str, range(runs)))))
    return spec


def start_run(tmp_path: Path, cluster: RayCluster, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
    return subprocess.Popen([RUNYARD, "run", "--executor", "ray", "--ray-address", cluster.address, *args],
                            cwd=tmp_path, env={**env, "RUNYARD_HOME": str(tmp_path / ".runyard")}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def finish(proc: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def statuses(tmp_path: Path, experiment: str) -> dict[str, tuple[Status, int]]:
    with open_store(f"sqlite:///{tmp_path / '.runyard' / 'runyard.db'}") as store:
        return {r.key: (r.status, r.attempts) for r in store.executions(experiment)}


def test_gpu_steps_see_the_gpus_ray_gave_them_never_more_per_gpu_than_allowed(tmp_path: Path,
                                                                             ray_cluster: RayCluster) -> None:
    sweep(tmp_path, "gpus", runs=12, per_gpu=2)
    code, out = finish(start_run(tmp_path, ray_cluster))
    assert code == 0, out
    lines = evidence(tmp_path / "evidence")
    done = statuses(tmp_path, "gpus")
    assert len(done) == 24 and all(status == Status.DONE for status, _ in done.values()), done
    gpu_lines = [line for line in lines if line.devices != "-"]
    cpu_lines = [line for line in lines if line.devices == "-"]
    assert {line.key for line in cpu_lines} == {line.key for line in cpu_lines if line.event == "end"}
    assert len({line.key for line in gpu_lines}) == 12
    assert {line.devices for line in gpu_lines} <= {"0", "1"}  # one GPU each, numbered on its node
    assert all(line.node not in ("", "?") for line in lines)
    running: Counter[tuple[str, str]] = Counter()
    most = 0
    for line in gpu_lines:  # in the order things happened
        running[(line.node, line.devices)] += 1 if line.event == "start" else -1
        most = max(most, *running.values())
    assert 1 <= most <= 2, f"a GPU ran {most} steps at once with per_gpu: 2"


def test_steps_of_a_lost_node_are_requeued_and_the_sweep_completes(tmp_path: Path, ray_driver: RayCluster) -> None:
    import ray

    cluster = ray_driver
    group = cluster.start_node("doomed", "--num-cpus", "1", "--num-gpus", "2", "--resources", '{"doomed_node": 1}')
    try:
        doomed = wait_for(lambda: [n["NodeID"] for n in ray.nodes() if n.get("Alive")
                                   and n.get("Resources", {}).get("doomed_node")], what="the third node to join")[0]
        gpus = wait_for(lambda: int(ray.cluster_resources().get("GPU", 0)) >= 6 and 6, what="six GPUs")
        hold = tmp_path / "release"
        sweep(tmp_path, "lost", runs=gpus, hold=str(hold))
        proc = start_run(tmp_path, cluster)
        # every GPU of the three nodes runs a held step: two of them on the doomed node
        path = tmp_path / "evidence"
        held = wait_for(lambda: [ln for ln in evidence(path) if ln.event == "start" and ln.devices != "-"]
                        if len([ln for ln in evidence(path) if ln.devices != "-"]) >= gpus else None,
                        timeout=240, what="a held step on every GPU")
        victims = [line for line in held if line.node == doomed]
        assert len(victims) == 2, held
        os.kill(raylet_of(group), signal.SIGKILL)
        wait_for(lambda: not any(process_running(line.pid) for line in victims), timeout=120,
                 what="the lost node's steps to be gone")
        wait_for(lambda: all(statuses(tmp_path, "lost")[v.key] != (Status.RUNNING, 1) for v in victims),
                 timeout=120, what="the lost steps to be requeued")
        hold.touch()  # the held steps end, and the lost ones run again on the GPUs they free
        code, out = finish(proc)
    finally:
        cluster.groups["doomed"] = group
        cluster.kill("doomed")
    assert code == 0, out
    done = statuses(tmp_path, "lost")
    assert all(status == Status.DONE for status, _ in done.values()) and len(done) == gpus * 2, done
    ends = Counter(line.key for line in evidence(path) if line.event == "end")
    lines = "\n".join(map(str, evidence(path)))
    assert set(ends) == set(done) and set(ends.values()) == {1}, lines  # nothing lost, nothing done twice
    for victim in victims:
        assert done[victim.key] == (Status.DONE, 2)
        assert all(line.node != doomed for line in evidence(path) if line.key == victim.key and line.attempt == 2)


def test_cancel_kills_the_step_process_on_its_node(tmp_path: Path, ray_cluster: RayCluster) -> None:
    sweep(tmp_path, "cancelled", runs=1, hold=str(tmp_path / "never"))
    proc = start_run(tmp_path, ray_cluster)
    path = tmp_path / "evidence"
    step = wait_for(lambda: [ln for ln in evidence(path) if ln.devices != "-"], timeout=240,
                    what="the GPU step to start")[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
    cancel = subprocess.run([RUNYARD, "cancel", "cancelled", "--home", str(tmp_path / ".runyard")], cwd=tmp_path,
                            env=env, text=True, capture_output=True, timeout=120, check=False)
    assert cancel.returncode == 0, cancel.stdout + cancel.stderr
    wait_for(lambda: not process_running(step.pid), timeout=60, what="the cancelled step's process to be gone")
    code, out = finish(proc)
    assert code == 0 and "1 cancelled" in out, out  # as with the local executor: cancelled is not failed
    assert statuses(tmp_path, "cancelled")[step.key][0] == Status.CANCELLED
    assert not any(line.event == "end" for line in evidence(path) if line.key == step.key)
    with open_store(f"sqlite:///{tmp_path / '.runyard' / 'runyard.db'}") as store:
        folder = store.execution(step.key).folder
    assert json.loads(Path(ExecutionPaths(folder).meta).read_text())["status"] == "cancelled"
