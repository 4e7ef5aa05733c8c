"""`runyard plan`: text and --json output, options, defaults, home resolution, bad input, and that it writes
nothing. Through click's CliRunner, plus real subprocesses of the installed console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from runyard.cli.main import cli

from .helpers import MLRUNNER, NORM_STUDY, files_under, write
from .test_spec_errors import BAD, expected_lines, spec_file

NORM_RUNS = ["norm=new", "norm=new,moment=0.05", "default", "moment=0.05", "early-stop=true,opt=sgd",
             "early-stop=true", "opt=sgd"]


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test runs in an empty folder of its own, without a RUNYARD_HOME from outside."""
    monkeypatch.delenv("RUNYARD_HOME", raising=False)
    monkeypatch.delenv("RUNYARD_STORE", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, ["plan", *args], catch_exceptions=False)


def plan_json(*args: str) -> dict[str, Any]:
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def copy_example(folder: Path, source: Path = NORM_STUDY, name: str | None = None) -> Path:
    target = folder / (name or source.name)
    shutil.copyfile(source, target)
    return target


def check_shape(data: dict[str, Any]) -> None:
    assert set(data) == {"experiment", "runs", "executions", "reasons", "to_run"}
    assert data["to_run"] == data["executions"] and data["reasons"] == {"new": data["executions"]}  # no store
    assert isinstance(data["experiment"], str) and isinstance(data["executions"], int)
    runs = data["runs"]
    assert isinstance(runs, list) and runs
    keys: set[str] = set()
    for run in runs:
        assert set(run) == {"id", "name", "stage", "params", "steps"} and run["stage"] == "sweep"
        assert isinstance(run["id"], str) and len(run["id"]) == 64
        assert isinstance(run["name"], str) and isinstance(run["params"], dict)
        earlier: list[str] = []
        for step in run["steps"]:
            assert set(step) == {"name", "key", "command", "needs", "gpus", "kind", "reason"}
            assert step["kind"] == "command" and step["reason"]["kind"] == "new" and step["reason"]["runs"]
            assert isinstance(step["name"], str) and isinstance(step["command"], str)
            assert isinstance(step["gpus"], int) and isinstance(step["needs"], list)
            assert set(step["needs"]) <= set(earlier)  # needs are keys of this run's earlier steps
            earlier.append(step["key"])
            keys.add(step["key"])
    assert data["executions"] == len(keys)


def test_json_of_the_design_example(isolated: Path) -> None:
    spec = copy_example(isolated)
    data = plan_json(str(spec))
    check_shape(data)
    assert data["experiment"] == "norm-study"
    runs = data["runs"]
    assert isinstance(runs, list)
    assert [r["name"] for r in runs] == NORM_RUNS
    assert data["executions"] == 15
    # prep: one execution shared by every run (they all have the same data)
    assert len({r["steps"][0]["key"] for r in runs}) == 1
    home = isolated / ".runyard" / "norm-study"
    sgd = runs[4]
    assert sgd["params"] == {"data": "iwslt14", "norm": "batch", "moment": 0.1, "early-stop": True, "seed": 1,
                             "opt": "sgd", "optimizer": "sgd", "lr": 0.1}
    prep, train, test = sgd["steps"]
    assert [s["name"] for s in sgd["steps"]] == ["prep", "train", "test"]
    prep_out = f"{home}/steps/prep/{prep['key'][:12]}/out"
    train_out = f"{home}/steps/train/{train['key'][:12]}/out"
    assert prep["command"] == f"python prep.py --data iwslt14 --out {prep_out}"
    assert train["command"] == (f"python train.py --data {prep_out} --norm batch --moment 0.1 --early-stop "
                                f"--optimizer sgd --lr 0.1 --seed 1 --save-dir {train_out}")
    assert test["command"] == f"python test.py --ckpt {train_out}/best.pt"
    assert (prep["needs"], train["needs"], test["needs"]) == ([], [prep["key"]], [train["key"]])
    assert [s["gpus"] for s in sgd["steps"]] == [1, 1, 1]


def test_json_of_the_mlrunner_reference(isolated: Path) -> None:
    spec = copy_example(isolated, MLRUNNER, "params.yaml")
    data = plan_json(str(spec))
    check_shape(data)
    assert data["experiment"] == "work"
    runs = data["runs"]
    assert isinstance(runs, list)
    assert [r["name"] for r in runs] == ["norm=new", "norm=new,moment=0.05", "default", "moment=0.05",
                                         "early-stop=true"]
    assert data["executions"] == 15
    for run in runs:
        folder = f"{isolated}/.runyard/work/runs/{run['name']}"
        train, avg, test = run["steps"]
        assert [train["name"], avg["name"], test["name"]] == ["train", "avg", "test"]
        assert f"--save-dir {folder} " in train["command"]
        words = " ".join(train["command"].split())
        assert f"--normalization {run['params']['norm']} --moment {run['params']['moment']}" in words
        assert train["command"].endswith("--early-stop") == run["params"]["early-stop"]
        assert avg["command"].endswith(f"--output {folder}/averaged_model.pt")
        assert f"--path {folder}/averaged_model.pt" in test["command"]
        assert (avg["needs"], test["needs"]) == ([train["key"]], [avg["key"]])


def test_text_output_of_the_design_example(isolated: Path) -> None:
    spec = copy_example(isolated)
    result = invoke(str(spec))
    assert result.exit_code == 0, result.output
    out = result.stdout
    lines = out.splitlines()
    assert lines[0] == f"norm-study  spec {spec}  home {isolated / '.runyard'}"
    header = lines[1].split()
    assert [w for w in header if w != "┃"] == ["run", "id", "norm", "moment", "early-stop", "opt", "optimizer", "lr"]
    for name in NORM_RUNS:
        assert f"\n{name} (" in out
    data = json.loads(invoke(str(spec), "--json").stdout)
    commands = {s["command"] for r in data["runs"] for s in r["steps"]}
    for command in commands:
        assert out.count(command + "\n") == 1, command  # each execution's command shown once
    prep_key = data["runs"][0]["steps"][0]["key"]
    assert f"  prep {prep_key[:12]} gpus 1 (shared by 7 runs)" in out
    assert out.count(f"  prep {prep_key[:12]} (shared, shown above)") == 6
    assert f" needs prep {prep_key[:12]}" in out
    assert lines[-2] == "7 runs, 15 step executions (1 shared by several runs)"
    assert lines[-1] == "15 would run (15 new), 0 cached"
    assert result.stderr == ""


def test_text_output_of_the_mlrunner_reference(isolated: Path) -> None:
    spec = copy_example(isolated, MLRUNNER, "params.yaml")
    result = invoke(str(spec))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-2] == "5 runs, 15 step executions (0 shared by several runs)"
    assert "--normalization new   --moment 0.05" in result.stdout


def test_single_run_summary_and_warnings(isolated: Path) -> None:
    write(isolated, "experiment: e\nparams: {a: 1, b: 1}\nsteps:\n  s: echo {a}\n")
    out = invoke().stdout
    assert out.splitlines()[-2:] == ["1 run, 1 step execution (0 shared by several runs)",
                                     "1 would run (1 new), 0 cached"]
    out = invoke("b=1,2").stdout
    assert "warning: param 'b' varies across runs but no step uses it" in out
    assert out.splitlines()[-2] == "2 runs, 1 step execution (1 shared by several runs)"


def test_spec_defaults_to_runyard_yaml_in_the_current_folder(isolated: Path) -> None:
    copy_example(isolated, name="runyard.yaml")
    assert [r["name"] for r in plan_json()["runs"]] == NORM_RUNS
    # a first argument with '=' is an override, not a spec
    runs = plan_json("seed=2")["runs"]
    assert isinstance(runs, list) and {r["params"]["seed"] for r in runs} == {2}
    os.remove(isolated / "runyard.yaml")
    result = invoke()
    assert result.exit_code == 2
    assert result.stderr == ("runyard: spec error: runyard.yaml: no such spec file (runyard looks for "
                             "./runyard.yaml when no spec is given)\n")


def test_a_folder_as_spec(isolated: Path) -> None:
    (isolated / "exp").mkdir()
    copy_example(isolated / "exp", name="runyard.yaml")
    assert plan_json("exp")["experiment"] == "norm-study"


def test_overrides_sweep_and_sample(isolated: Path) -> None:
    spec = str(copy_example(isolated))
    runs = plan_json(spec, "seed=1,2", "--sweep", "norms")["runs"]
    assert isinstance(runs, list) and len(runs) == 8
    assert [r["params"]["seed"] for r in runs] == [1, 2] * 4
    assert plan_json(spec, "lr=0.5", "opt=sgd")["runs"][0]["params"]["lr"] == 0.5
    sample = plan_json(spec, "--sample", "3")
    assert len(sample["runs"]) == 3
    assert sample == plan_json(spec, "--sample", "3", "--seed", "0")
    names = [[r["name"] for r in plan_json(spec, "--sample", "3", "--seed", str(s))["runs"]]
             for s in range(6)]
    assert len({tuple(n) for n in names}) > 1
    assert all(set(n) <= set(NORM_RUNS) for n in names)
    with_stop = plan_json(spec, "--sweep", "stop")
    assert [r["name"] for r in with_stop["runs"]] == ["early-stop=true,opt=sgd", "early-stop=true",
                                                       "opt=sgd", "default"]


def test_plan_writes_nothing(isolated: Path, tmp_path: Path) -> None:
    spec = copy_example(isolated, name="runyard.yaml")
    py = write(isolated, "spec = {'experiment': 'py', 'steps': {'a': 'echo {run}'}}\n", "spec.py")
    before = files_under(tmp_path)
    for args in [(), (str(spec),), ("--json",), ("seed=1,2", "--sample", "3"), ("--home", str(tmp_path / "h")),
                 (str(py),), (str(MLRUNNER),), ("nope=1",), ("--sweep", "nope")]:
        invoke(*args)
    assert files_under(tmp_path) == before
    assert not any(p.name == ".runyard" for p in tmp_path.rglob("*"))
    assert not (tmp_path / "h").exists()


def test_home_resolution(isolated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (isolated / "exp" / "deep").mkdir(parents=True)
    write(isolated / "exp", "experiment: e\nsteps:\n  s: echo {run}\n")

    def run_folder(*args: str) -> str:
        data = plan_json(*args)
        return str(data["runs"][0]["steps"][0]["command"]).removeprefix("echo ")

    # beside the spec when there is no .runyard up from the current folder
    assert run_folder("exp") == f"{isolated}/exp/.runyard/e/runs/default"
    assert run_folder("exp", "--home", "elsewhere") == f"{isolated}/elsewhere/e/runs/default"
    monkeypatch.setenv("RUNYARD_HOME", str(tmp_path / "env"))
    assert run_folder("exp") == f"{tmp_path}/env/e/runs/default"
    assert run_folder("exp", "--home", "flag") == f"{isolated}/flag/e/runs/default"
    monkeypatch.delenv("RUNYARD_HOME")
    (isolated / ".runyard").mkdir()  # the nearest .runyard walking up from the current folder
    monkeypatch.chdir(isolated / "exp" / "deep")
    assert run_folder("..") == f"{isolated}/.runyard/e/runs/default"


@pytest.mark.parametrize("bad", BAD, ids=[b.id for b in BAD])
def test_bad_input_exits_2_with_one_message(isolated: Path, tmp_path: Path, bad: object) -> None:
    from .test_spec_errors import Bad

    assert isinstance(bad, Bad)
    path = spec_file(isolated, bad)
    before = files_under(tmp_path)
    args = [str(path), *bad.args, *(["--sweep", bad.sweep] if bad.sweep else [])]
    for extra in ([], ["--json"]):
        result = invoke(*args, *extra)
        assert result.exit_code == 2
        assert result.stdout == ""
        lines = expected_lines(bad, path)
        if len(lines) == 1:
            assert result.stderr == f"runyard: spec error: {lines[0]}\n"
        else:
            assert result.stderr == f"runyard: spec error: {len(lines)} problems\n" + "".join(
                f"  {line}\n" for line in lines)
        assert "Traceback" not in result.output
    assert files_under(tmp_path) == before


@pytest.mark.parametrize(("args", "message"), [
    (["a=1", "extra"], "runyard: 'extra': expected KEY=VALUE after the spec (only one spec per command)\n"),
    (["--sample", "0"], "Invalid value for '--sample'"),
    (["--sample", "x"], "Invalid value for '--sample'"),
    (["--bogus"], "No such option"),
])
def test_bad_command_lines_exit_2(isolated: Path, args: list[str], message: str) -> None:
    copy_example(isolated, name="runyard.yaml")
    result = invoke(*args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_help() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0 and "plan" in result.stdout and "Writes nothing" in result.stdout
    result = invoke("--help")
    assert result.exit_code == 0
    for word in ("[SPEC] [KEY=VALUE ...]", "--sweep", "--sample", "--seed", "--home", "--json", "KEY=A,B,C"):
        assert word in result.stdout


# --- the installed console script ----------------------------------------------------------------------------

SCRIPT = Path(sys.executable).parent / "runyard"


def script(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=60,
                          check=False)


@pytest.mark.skipif(not SCRIPT.exists(), reason="runyard console script not installed next to the interpreter")
def test_console_script(isolated: Path, tmp_path: Path) -> None:
    copy_example(isolated, name="runyard.yaml")
    before = files_under(tmp_path)
    done = script("plan", "--json", cwd=isolated)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    check_shape(data)
    assert [r["name"] for r in data["runs"]] == NORM_RUNS and data["executions"] == 15
    text = script("plan", "seed=1,2", cwd=isolated)
    assert text.returncode == 0 and text.stdout.splitlines()[-2] == "14 runs, 29 step executions (1 shared by " \
                                                                     "several runs)"
    bad = script("plan", "nrom=new", cwd=isolated)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("runyard: spec error: command line: nrom=new: 'nrom' is not a param; did you mean "
                                 "'norm'?")
    assert "Traceback" not in bad.stderr
    assert files_under(tmp_path) == before
