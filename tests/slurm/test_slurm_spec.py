"""The ``slurm:`` block: checked like the rest of a spec (every problem with its key path), merged with the
command line's options and per-step overrides, and mapped to sbatch options. No cluster needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runyard.app.slurm import parse_slurm_options, worker_command
from runyard.errors import SpecError, UsageError
from runyard.spec.load import spec_from_dict
from runyard.spec.slurm import SlurmSpec, sbatch_options

STEPS = {"prep": "echo prep", "train": {"run": "echo train", "gpus": 2, "timeout": "1h"}}


def test_every_problem_of_the_block_is_reported_with_its_key_path() -> None:
    with pytest.raises(SpecError) as caught:
        spec_from_dict({"experiment": "e", "steps": STEPS, "slurm": {
            "partiton": "gpu", "time": "soon", "mem": "16 GB", "cpus_per_task": 0, "workers": -1,
            "options": {"--exclusive": "", "mail-type": ["END"]},
            "steps": {"trian": {"mem": "1G"}, "train": {"qos": 3, "workers": 2}}}})
    text = str(caught.value)
    for expected in ("slurm.partiton: unknown key; did you mean 'partition'",
                     "slurm.time: 'soon' is not a duration",
                     "slurm.mem: '16 GB' is not a memory size",
                     "slurm.cpus_per_task: must be a whole number ≥ 1",
                     "slurm.workers: must be a whole number ≥ 0",
                     "slurm.options.--exclusive: must be an sbatch long option name",
                     "slurm.options.mail-type: must be a text or number value",
                     "slurm.steps.trian: no such step; did you mean 'train'",
                     "slurm.steps.train.qos: must be a name",
                     "slurm.steps.train.workers: unknown key"):
        assert expected in text, text


def test_settings_map_to_sbatch_options_with_step_overrides_and_the_command_line_over_them() -> None:
    spec = spec_from_dict({"experiment": "e", "steps": STEPS, "slurm": {
        "partition": "gpu", "time": "2h", "account": "lab", "mem": "16G", "options": {"exclusive": None},
        "steps": {"train": {"partition": "long", "mem": "64G", "options": {"mail-type": "END"}}}}})
    assert spec.slurm is not None and spec.slurm.workers == 4
    assert sbatch_options(spec.slurm.for_step("prep")) == [
        "--partition=gpu", "--account=lab", "--mem=16G", "--time=120", "--exclusive"]
    assert sbatch_options(spec.slurm.for_step("train"), gpus=2, time=3601) == [
        "--partition=long", "--account=lab", "--mem=64G", "--time=61", "--gres=gpu:2", "--exclusive",
        "--mail-type=END"]
    given = spec.slurm.with_options("debug", parse_slurm_options(["qos=high", "--exclusive"]))
    assert sbatch_options(given) == ["--partition=debug", "--account=lab", "--mem=16G", "--time=120", "--exclusive",
                                     "--qos=high"]
    assert given.options == {"exclusive": "", "qos": "high"}
    assert SlurmSpec().for_step("any") == SlurmSpec()


def test_a_bad_slurm_opt_says_what_is_expected() -> None:
    with pytest.raises(UsageError, match="--slurm-opt 'mail type=END': expected KEY=VALUE"):
        parse_slurm_options(["mail type=END"])


def test_the_worker_job_command_quotes_what_it_substitutes(tmp_path: Path) -> None:
    home = tmp_path / "a home; rm -rf x"
    command = worker_command("exp 'quoted'", str(home), grace=5, lease=30, fake_gpus=True)
    assert f"'{home}'" in command and "--experiment 'exp '\"'\"'quoted'\"'\"''" in command
    assert command.endswith('--gpus "${CUDA_VISIBLE_DEVICES:-none}" --jobs 1')


def test_run_refuses_an_unknown_executor(tmp_path: Path) -> None:
    spec = tmp_path / "runyard.yaml"
    spec.write_text("experiment: e\nsteps: {a: echo a}\n")
    done = subprocess.run([sys.executable, "-m", "runyard", "run", str(spec), "--executor", "slurn"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "--executor 'slurn' is not known; did you mean 'slurm'" in done.stderr, done
    assert "Traceback" not in done.stderr
