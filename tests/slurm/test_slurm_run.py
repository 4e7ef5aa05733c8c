"""``runyard run --executor slurm`` on the session's one-node cluster (4 fake GPUs): a GPU sweep run by a few
worker jobs, and steps that Slurm ends (``scancel``, a time limit) recorded with sacct's reason."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from runyard.model import Status
from runyard.store import open_store
from runyard.testing.processes import wait_for
from runyard.testing.slurmcluster import SlurmCluster


def runyard(cluster: SlurmCluster, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "runyard", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, **cluster.env})


def records(spec: Path, experiment: str) -> dict[str, list[object]]:
    with open_store(f"sqlite:///{spec.parent / '.runyard' / 'runyard.db'}") as store:
        found: dict[str, list[object]] = {}
        for record in store.executions(experiment):
            found.setdefault(record.step, []).append(record)
        return found


def test_a_gpu_sweep_runs_in_a_few_worker_jobs_on_the_gpus_slurm_gave(slurm_cluster: SlurmCluster,
                                                                        tmp_path: Path) -> None:
    spec = tmp_path / "runyard.yaml"
    spec.write_text(textwrap.dedent("""\
        experiment: gpusweep
        params: {x: 1}
        steps:
          one:
            run: echo "$CUDA_VISIBLE_DEVICES $SLURM_JOB_ID" {x} > {out}/seen
            gpus: 1
          two:
            run: echo "$CUDA_VISIBLE_DEVICES $SLURM_JOB_ID" {x} > {out}/seen
            gpus: 2
        sweeps:
          grid: {x: [1, 2, 3, 4, 5, 6]}
        slurm: {workers: 2, time: 10m}
        """))
    proc = runyard(slurm_cluster, "run", str(spec), "--executor", "slurm", "--fake-gpus")
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    found = records(spec, "gpusweep")
    assert {step: len(rs) for step, rs in found.items()} == {"one": 6, "two": 6}
    jobs: dict[str, set[str]] = {}
    for step, rs in found.items():
        for record in rs:
            assert record.status == Status.DONE  # type: ignore[attr-defined]
            devices, job, _ = (Path(record.folder) / "out" / "seen").read_text().split()  # type: ignore[attr-defined]
            indices = devices.split(",")
            assert len(indices) == (1 if step == "one" else 2) and set(indices) <= {"0", "1", "2", "3"}, devices
            jobs.setdefault(job, set()).add(devices)
    assert 2 <= len(jobs) <= 4, jobs  # two worker jobs per GPU count at most, not one job per step
    # a job's worker runs its steps on the job's GPUs: every step of a job sees GPUs among one set of at most 2
    # (a 2-GPU job's worker may also run 1-GPU steps, on either of its GPUs)
    for seen in jobs.values():
        gpus = {index for devices in seen for index in devices.split(",")}
        assert len(gpus) <= 2 and max(seen, key=len) == ",".join(sorted(gpus)), jobs
    assert "Slurm job" in out


def test_scancel_and_a_time_limit_are_recorded_with_their_reasons(slurm_cluster: SlurmCluster,
                                                                   tmp_path: Path) -> None:
    spec = tmp_path / "runyard.yaml"
    spec.write_text(textwrap.dedent("""\
        experiment: ended
        steps:
          cancelled: {run: "echo started > {out}/started; exec sleep 600"}
          limited: {run: "echo started > {out}/started; exec sleep 600", needs: []}
        slurm: {workers: 0}
        """))
    proc = runyard(slurm_cluster, "run", str(spec), "--executor", "slurm")
    jobs = {}
    for step in ("cancelled", "limited"):
        def running(step: str = step) -> str | None:
            out = slurm_cluster.command("squeue", "-h", "-t", "R", "-o", "%i %j")
            return next((line.split()[0] for line in out.splitlines() if f"runyard-{step}-" in line), None)
        jobs[step] = wait_for(running, timeout=120, what=f"the {step} step's job to run")
    slurm_cluster.command("scancel", jobs["cancelled"])
    # past its limit at once: the controller ends it at its next time-limit check (every 30 s)
    slurm_cluster.command("scontrol", "update", f"JobId={jobs['limited']}", "TimeLimit=0")
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 1, out
    found = records(spec, "ended")
    (cancelled,), (limited,) = found["cancelled"], found["limited"]
    assert cancelled.status == Status.FAILED and limited.status == Status.FAILED  # type: ignore[attr-defined]
    assert f"Slurm job {jobs['cancelled']} ended CANCELLED by 0" in cancelled.error, cancelled  # type: ignore[attr-defined]
    assert f"Slurm job {jobs['limited']} ended TIMEOUT" in limited.error, limited  # type: ignore[attr-defined]
