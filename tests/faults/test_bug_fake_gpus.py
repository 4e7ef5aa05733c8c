"""``--gpus 0,1`` on a machine that has no such GPUs. Where NVML sees the devices, an index it does not see is a
usage error (exit 2, nothing written) unless ``--fake-gpus`` allows it (a one-line warning). Where NVML is
absent, one line on stderr says the indices are not verified.

The NVML-absent path runs for real (this machine has no NVML; the tests skip where it has). The
NVML-present path replaces the device count seam (``runyard.execute.gpu_detect.nvml_device_count``) in-process
and drives the CLI through click's runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from runyard.cli.main import cli
from runyard.execute import gpu_detect

from .bug_cli import runyard

SPEC = """\
experiment: gpu
params: {x: 1}
steps:
  show: python -c "import os; print('cvd', os.environ['CUDA_VISIBLE_DEVICES'])" {x}
"""
NOT_VERIFIED = "GPU indices not verified (NVML is not available here"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "runyard.yaml").write_text(SPEC)
    return tmp_path


def _nvml_absent() -> None:
    if gpu_detect.nvml_device_count() is not None:
        pytest.skip("NVML is available on this machine: the NVML-absent path cannot run for real")


def _warnings(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("warning:")]


def test_without_nvml_run_and_worker_say_the_indices_are_not_verified(project: Path) -> None:
    _nvml_absent()
    home = project / "home"
    run = runyard("run", "--gpus", "0,1", cwd=project, home=home)
    assert run.code == 0, run
    assert _warnings(run.stderr) == [f"warning: --gpus 0,1: {NOT_VERIFIED}; install nvidia-ml-py to check them)"]
    assert "Traceback" not in run.stderr
    submit = runyard("submit", "x=2", cwd=project, home=home)
    assert submit.code == 0 and not _warnings(submit.stderr), submit  # a submit does not look at GPUs
    worker = runyard("worker", "--gpus", "0", "--burst", cwd=project, home=home)
    assert worker.code == 0, worker
    assert _warnings(worker.stderr) == [f"warning: --gpus 0: {NOT_VERIFIED}; install nvidia-ml-py to check them)"]
    fake = runyard("run", "--gpus", "0,1", "--fake-gpus", "x=3", cwd=project, home=home)
    assert fake.code == 0 and not _warnings(fake.stderr), fake  # fake indices asked for: nothing to warn about


def _invoke(project: Path, monkeypatch: pytest.MonkeyPatch, *args: str, fake_env: str | None = None) -> Result:
    monkeypatch.chdir(project)
    env = {"RUNYARD_HOME": str(project / "home"), "RUNYARD_STORE": None, "RUNYARD_FAKE_GPUS": fake_env}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def one_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu_detect, "nvml_device_count", lambda: 1)


@pytest.mark.usefixtures("one_gpu")
@pytest.mark.parametrize("command", [["run", "--gpus", "0,1"], ["worker", "--gpus", "1,0", "--burst"]],
                         ids=["run", "worker"])
def test_with_nvml_an_index_it_does_not_see_is_a_usage_error(project: Path, monkeypatch: pytest.MonkeyPatch,
                                                            command: list[str]) -> None:
    if command[0] == "worker":
        assert _invoke(project, monkeypatch, "submit").exit_code == 0
    before = sorted(p.name for p in project.rglob("*"))
    result = _invoke(project, monkeypatch, *command)
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert message.count("\n") == 0 and "Traceback" not in message
    listed = command[2]
    assert f"--gpus {listed}: no GPU 1 on this machine; NVML sees 1 GPU (index 0)" in message
    assert "--fake-gpus" in message
    assert sorted(p.name for p in project.rglob("*")) == before, "nothing written"


@pytest.mark.usefixtures("one_gpu")
def test_with_nvml_fake_gpus_runs_with_a_warning(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _invoke(project, monkeypatch, "run", "--gpus", "0,1", "--fake-gpus")
    assert result.exit_code == 0, result.output
    assert _warnings(result.stderr) == ["warning: --gpus 0,1: no GPU 1 here (NVML sees 1 GPU (index 0)); "
                                        "running with fake GPU indices (--fake-gpus)"]
    real = _invoke(project, monkeypatch, "run", "--gpus", "0", "x=2")
    assert real.exit_code == 0 and not _warnings(real.stderr), real.output
    # the flag as an environment variable (for a test machine's CI)
    by_env = _invoke(project, monkeypatch, "run", "--gpus", "0,1", "x=3", fake_env="1")
    assert by_env.exit_code == 0 and "running with fake GPU indices" in by_env.stderr, by_env.output


@pytest.mark.usefixtures("one_gpu")
def test_with_nvml_the_spec_s_gpu_list_is_checked_too(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "runyard.yaml").write_text(SPEC + "resources:\n  gpus: [0, 1, 2]\n")
    result = _invoke(project, monkeypatch, "run")
    assert result.exit_code == 2, result.output
    assert "runyard.yaml: resources.gpus 0,1,2: no GPU 1,2 on this machine" in result.stderr
    assert not (project / "home").exists()
    planned = _invoke(project, monkeypatch, "plan")  # planning does not depend on this machine's GPUs
    assert planned.exit_code == 0, planned.output
