"""``runyard.Experiment``: the same Spec and keys as YAML, real runs through the API, functions of ``__main__``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import runyard
from runyard.errors import SpecError, StepFailed, UsageError
from runyard.spec import expand, load_spec

MODULE = '''
import os
from dataclasses import dataclass

CALLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "calls.txt")


def note(label):
    with open(CALLS, "a") as handle:
        handle.write(label + "\\n")


@dataclass
class Cfg:
    lr: float = 0.1
    depth: int = 2


def prep(data="tiny"):
    note("prep")
    return {"data": data, "rows": 10}


def train(prep, cfg: Cfg, seed=0):
    note("train")
    return {"loss": cfg.lr * cfg.depth + seed / 100, "rows": float(prep["rows"])}


def fail(train):
    raise ValueError("cannot evaluate")
'''


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project folder holding ``labsteps.py`` (importable), as the current folder."""
    monkeypatch.delenv("RUNYARD_HOME", raising=False)
    monkeypatch.delenv("RUNYARD_STORE", raising=False)
    folder = tmp_path / "lab"
    folder.mkdir()
    (folder / "labsteps.py").write_text(MODULE)
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    sys.modules.pop("labsteps", None)
    yield folder
    sys.modules.pop("labsteps", None)


def calls(folder: Path, label: str) -> int:
    path = folder / "calls.txt"
    return path.read_text().splitlines().count(label) if path.exists() else 0


def test_the_api_builds_the_spec_and_keys_a_yaml_file_gives(lab: Path) -> None:
    import labsteps

    (lab / "runyard.yaml").write_text(textwrap.dedent("""
        experiment: lab
        params: {seed: 3}
        steps:
          prep: {call: labsteps:prep}
          train: {call: labsteps:train, gpus: 0, retries: 1}
        sweeps:
          lrs: {cfg.lr: [0.1, 0.2]}
    """))
    exp = runyard.Experiment("lab", steps={"prep": labsteps.prep, "train": {"call": labsteps.train, "gpus": 0,
                                                                              "retries": 1}},
                             params={"seed": 3}, sweeps={"lrs": {"cfg.lr": [0.1, 0.2]}})
    from_yaml = load_spec(lab / "runyard.yaml")
    from_api = exp.spec()
    assert from_api.to_data() == from_yaml.to_data()
    home = str(lab / ".runyard")
    assert [e.key for e in exp.plan().executions] == [e.key for e in expand(from_yaml, home=home).executions]
    assert [e.command for e in exp.plan().executions] == [e.command for e in expand(from_yaml, home=home).executions]
    plan = exp.plan(seed=[1, 2], overrides={"cfg.depth": 4})
    assert len(plan.runs) == 4 and {r.params["cfg.depth"] for r in plan.runs} == {4}
    assert not (lab / ".runyard").exists()  # planning writes nothing
    with pytest.raises(SpecError, match="'seeds' is not a param; did you mean 'seed'"):
        exp.plan(seeds=[1, 2])


def test_run_compare_and_load_through_the_api(lab: Path) -> None:
    import labsteps

    exp = runyard.Experiment("lab", steps=[labsteps.prep, ("fit", labsteps.train)],
                             sweeps={"lrs": {"cfg.lr": [0.1, 0.2]}})
    runs = exp.run(seed=[1, 2], jobs=2, quiet=True)
    assert len(runs) == 4
    table = runs.compare(sort="loss")
    assert list(table["loss"]) == pytest.approx([0.21, 0.22, 0.41, 0.42])
    assert set(runs.df["cfg.depth"]) == {2}  # signature defaults are recorded with every run
    assert runyard.load("seed=2", "fit") == {"loss": pytest.approx(0.22), "rows": 10.0}
    assert (calls(lab, "prep"), calls(lab, "train")) == (1, 4)
    again = exp.run(seed=[1, 2], jobs=2, quiet=True)  # everything cached
    assert len(again) == 4 and (calls(lab, "prep"), calls(lab, "train")) == (1, 4)
    assert len(exp.runs(where="loss < 0.3")) == 2


def test_a_failed_step_raises_naming_its_log(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import labsteps

    exp = runyard.Experiment("lab", steps=[labsteps.prep, labsteps.train, labsteps.fail])
    with pytest.raises(StepFailed) as info:
        exp.run()
    message = str(info.value)
    assert message.startswith("1 step execution failed:\n  fail ")
    log = message.split(" · log ")[1]
    assert "ValueError: cannot evaluate" in Path(log).read_text()
    assert "runyard: failed fail" in capsys.readouterr().err
    assert runyard.load("default", "train")["rows"] == 10.0  # what did finish is kept


def test_a_local_function_runs_inline(lab: Path) -> None:
    seen = []

    def local(k=3):
        seen.append(k)
        return {"k2": k * 2}

    exp = runyard.Experiment("loc", steps=[local])
    with pytest.raises(UsageError, match="local"):  # a subprocess cannot import it (pickled by value instead?)
        sys.modules["cloudpickle"] = None  # type: ignore[assignment]
        try:
            exp.run(quiet=True)
        finally:
            del sys.modules["cloudpickle"]
    runs = exp.run(k=[1, 4], inline=True, quiet=True)
    assert sorted(seen) == [1, 4]
    assert sorted(runs.df["k2"]) == [2.0, 8.0]


SCRIPT = '''
import sys
import runyard

if sys.argv[1] == "no-cloudpickle":
    sys.modules["cloudpickle"] = None


def square(x=3):
    return {"y": x * x}


exp = runyard.Experiment("main", steps=[square])
try:
    runs = exp.run(x=[2, 5], quiet=True)
except runyard.errors.RunyardError as err:
    print("error:", err)
    sys.exit(2)
print(sorted(runs.df["y"]))
'''


def test_functions_of_main_go_by_value_or_are_refused(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    env = {"RUNYARD_HOME": str(tmp_path / "home"), "PATH": os.environ["PATH"]}
    done = subprocess.run([sys.executable, str(script), "cloudpickle"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "[4.0, 25.0]"
    pickles = list((tmp_path / "home" / "code").glob("*.pkl"))
    assert len(pickles) == 1
    from runyard.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'home' / 'runyard.db'}")
    try:
        commands = [ex.command for ex in store.executions("main")]
    finally:
        store.close()
    assert len(commands) == 2 and all(c.endswith(f" --pickle {pickles[0]}") for c in commands)
    done = subprocess.run([sys.executable, str(script), "no-cloudpickle"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "defined in a notebook or __main__" in done.stdout and "pip install 'runyard[notebook]'" in done.stdout
