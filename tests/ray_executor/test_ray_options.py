"""What the Ray executor asks Ray for, and the messages of a wrong ``--executor`` / ``--ray-*`` or a missing
``ray``: no cluster needed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runyard.app.executors import ExecutorOptions, parse_resources
from runyard.errors import UsageError

RUNYARD = str(Path(sys.executable).with_name("runyard"))
SPEC = "experiment: opts\nsteps:\n  hello: echo hello\n"


def test_each_step_asks_for_its_gpus_a_share_with_per_gpu_and_cpus_only_without_gpus() -> None:
    pytest.importorskip("ray", reason="ray is not installed: pip install 'runyard[ray]'")
    from runyard.execute.launchers.ray_launcher import RaySettings, task_resources

    assert task_resources(0, RaySettings()) == {"num_gpus": 0.0, "num_cpus": 1.0}
    assert task_resources(1, RaySettings()) == {"num_gpus": 1.0, "num_cpus": 0.0}
    assert task_resources(1, RaySettings(per_gpu=4)) == {"num_gpus": 0.25, "num_cpus": 0.0}
    assert task_resources(2, RaySettings(per_gpu=2)) == {"num_gpus": 2.0, "num_cpus": 0.0}  # whole GPUs
    assert task_resources(1, RaySettings(cpus=2, resources={"a100": 1})) == {
        "num_gpus": 1.0, "num_cpus": 2, "resources": {"a100": 1}}


def test_resources_and_worker_arguments() -> None:
    assert parse_resources(["a100=1", " fast = 0.5"]) == {"a100": 1.0, "fast": 0.5}
    for bad in ("a100", "=1", "a100=x", "a100=-1"):
        with pytest.raises(UsageError, match=f"--ray-resource '{bad}' is not valid: NAME=AMOUNT"):
            parse_resources([bad])
    chosen = ExecutorOptions("ray", ray_address="auto", ray_cpus=0.5, ray_resources={"a100": 1.0})
    assert chosen.worker_args() == ["--executor", "ray", "--ray-address", "auto", "--ray-cpus", "0.5",
                                    "--ray-resource", "a100=1"]
    assert ExecutorOptions().worker_args() == []


def runyard(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "runyard.yaml").write_text(SPEC)
    base = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
    return subprocess.run([RUNYARD, "run", *args], cwd=tmp_path, env={**base, **(env or {})}, text=True,
                          capture_output=True, timeout=120, check=False)


def test_wrong_executor_or_address_is_one_clear_message(tmp_path: Path) -> None:
    done = runyard(tmp_path, "--executor", "rya")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--executor 'rya' is not known; did you mean 'ray'?; known: local, ray" in done.stderr
    done = runyard(tmp_path, "--executor", "ray", "--ray-address", "somewhere")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--ray-address 'somewhere' is not valid (valid: 'local'" in done.stderr


def test_missing_ray_says_how_to_install_it(tmp_path: Path) -> None:
    hidden = tmp_path / "hide"
    (hidden / "ray").mkdir(parents=True)
    (hidden / "ray" / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    done = runyard(tmp_path, "--executor", "ray", env={"PYTHONPATH": str(hidden)})
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "the Ray executor needs the optional package 'ray': pip install 'runyard[ray]'" in done.stderr
    assert not (tmp_path / ".runyard").exists()  # nothing submitted
