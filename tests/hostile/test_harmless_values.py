"""Hostile input that is *not* an error: shell-looking values, over-long names, shell syntax beside
placeholders, a huge grid sampled, a defaults change. Each runs for real and must do exactly what it
says, nothing more."""

from __future__ import annotations

import json
import os
import re
import textwrap
from pathlib import Path

import pytest

import runyard
from runyard.errors import SpecError
from runyard.store import open_store

from .helpers import invoke

INJECTIONS = ["$(touch pwned)", "`touch pwned`", "; touch pwned", "a' ; touch pwned ; '", "|| touch pwned",
              "\ntouch pwned\n", "../../../../tmp/pwned", "--lr=evil", "-rf /", "${IFS}touch${IFS}pwned", "*"]


def write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / "runyard.yaml"
    spec.write_text(textwrap.dedent(text))
    return spec


def test_shell_injection_in_values_is_quoted_and_harmless(tmp_path: Path) -> None:
    values = json.dumps(INJECTIONS)  # a YAML flow list
    spec = write(tmp_path / "p", f"""\
        experiment: inject
        params: {{tag: x, flag: x}}
        steps:
          show: python -c 'import sys, json; print(json.dumps(sys.argv[1:]))' {{tag}} [flag] > {{out}}/argv
        sweeps:
          all: {{tag: {values}, flag: {values}}}
        """)
    home = tmp_path / "home"
    result = invoke(["run", str(spec), "--home", str(home), "--jobs", "2"])
    assert result.exit_code == 0, result.output
    seen = set()
    for argv_file in home.glob("inject/steps/show/*/out/argv"):
        tag, dash_flag, flag = json.loads(argv_file.read_text())
        assert tag in INJECTIONS and flag in INJECTIONS and dash_flag == "--flag"
        seen.add((tag, flag))
    assert len(seen) == len(INJECTIONS) ** 2
    assert not list(tmp_path.rglob("pwned")) and not Path("/tmp/pwned").exists()
    for run_folder in (home / "inject" / "runs").iterdir():
        assert run_folder.resolve().is_relative_to(home.resolve())


def test_over_long_names_get_short_deterministic_folders(tmp_path: Path) -> None:
    experiment, step = "e" * 300, "s" * 300
    spec = write(tmp_path / "p", f"""\
        experiment: {experiment}
        params: {{tag: {'v' * 1000}}}
        steps:
          {step}: echo {{tag}} > {{out}}/x
          after: cat {{{step}.out}}/x > {{out}}/y
        """)
    home = tmp_path / "home"
    result = invoke(["run", str(spec), "--home", str(home), "tag=" + "w" * 1000])
    assert result.exit_code == 0, result.output
    names = [p.name for p in home.rglob("*")]
    assert max(len(n.encode()) for n in names) <= 128
    (exp_folder,) = [p for p in home.iterdir() if p.is_dir() and p.name.startswith("eee")]
    with open_store(f"sqlite:///{home / 'runyard.db'}") as store:
        assert store.experiments() == [experiment]
        (run,) = store.runs(experiment)
        assert Path(run.folder).parent.parent == exp_folder
    assert (Path(run.folder) / "after").resolve().joinpath("out", "y").read_text() == "w" * 1000 + "\n"
    again = invoke(["plan", str(spec), "--home", str(home), "tag=" + "w" * 1000, "--json"])
    assert json.loads(again.stdout)["runs"][0]["name"] == run.name  # the same shortened names every time
    assert f"/{exp_folder.name}/steps/" in json.loads(again.stdout)["runs"][0]["steps"][0]["command"]


def test_shell_syntax_beside_placeholders_still_works(tmp_path: Path) -> None:
    spec = write(tmp_path / "p", r"""
        experiment: shell
        params: {warmup: 3}
        steps:
          s: >-
            touch {out}/here; [ -f {out}/here ] && [[ -n "x" ]] && a=(p q); echo ${a[1]} \[warmup] [warmup]
            $(echo 1 2 | awk '{{print $2}}') log[12] > {out}/said
        """)
    home = tmp_path / "home"
    result = invoke(["run", str(spec), "--home", str(home)])
    assert result.exit_code == 0, result.output
    (said,) = home.glob("shell/steps/s/*/out/said")
    assert said.read_text() == "q [warmup] --warmup 3 2 log[12]\n"


def test_sample_of_a_billion_run_grid_is_small_and_seeded(tmp_path: Path) -> None:
    axes = ", ".join(f"p{i}: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]" for i in range(9))
    spec = write(tmp_path / "p", f"""\
        experiment: big
        params: {{{', '.join(f'p{i}: 0' for i in range(9))}}}
        steps:
          s: echo {' '.join(f'{{p{i}}}' for i in range(9))}
        sweeps:
          all: {{{axes}}}
        """)
    home = tmp_path / "home"

    def sample(seed: int) -> list[dict[str, int]]:
        result = invoke(["plan", str(spec), "--home", str(home), "--sample", "5", "--seed", str(seed), "--json"])
        assert result.exit_code == 0, result.output
        return [run["params"] for run in json.loads(result.stdout)["runs"]]

    first = sample(0)
    assert len(first) == 5 and len({json.dumps(p, sort_keys=True) for p in first}) == 5
    assert sample(0) == first
    assert sample(1) != first
    assert not home.exists()


def test_runs_never_share_a_name_after_a_defaults_change(tmp_path: Path) -> None:
    folder, home = tmp_path / "p", tmp_path / "home"
    body = "experiment: d\nparams: {{lr: {lr}}}\nsteps:\n  s: echo {{lr}} > {{run}}/lr\n"
    spec = write(folder, body.format(lr=0.1))
    assert invoke(["run", str(spec), "--home", str(home)]).exit_code == 0
    write(folder, body.format(lr=0.01))
    assert invoke(["run", str(spec), "--home", str(home)]).exit_code == 0
    write(folder, body.format(lr=0.1))  # back again: the first run keeps its name
    assert invoke(["run", str(spec), "--home", str(home)]).exit_code == 0
    with open_store(f"sqlite:///{home / 'runyard.db'}") as store:
        runs = store.runs("d")
    assert len(runs) == 2
    assert len({r.name for r in runs}) == 2 and len({r.folder for r in runs}) == 2
    by_lr = {r.params["lr"]: r for r in runs}
    assert by_lr[0.1].name == "default" and by_lr[0.01].name == f"default-{by_lr[0.01].id[:8]}"
    for lr, run in by_lr.items():
        assert (Path(run.folder) / "lr").read_text() == f"{lr}\n"


YAML_MESSAGE = "must be a single value (text, number, true/false or null), not dict"


@pytest.mark.parametrize(("values", "message"), [
    ({"lr": {"a": 1}}, YAML_MESSAGE),
    ({"lr": [{"a": 1}]}, YAML_MESSAGE),
    ({"lr": [[1, 2]]}, "must be a single value (text, number, true/false or null), not list"),
    ({"lr": []}, "empty list: a grid axis needs at least one value"),
    ({"tag": "a\x00b"}, "holds a NUL byte"),
    ({"lr": object()}, "must be a single value (text, number, true/false or null), not object"),
])
def test_python_entry_points_validate_values_like_a_yaml_file(tmp_path: Path, values: dict[str, object],
                                                               message: str) -> None:
    folder, home = tmp_path / "p", tmp_path / "home"
    spec = write(folder, "experiment: py\nparams: {lr: 0.1, tag: a}\nsteps:\n  s: echo {lr} {tag}\n")
    assert invoke(["submit", str(spec), "--home", str(home)]).exit_code == 0
    yaml_error = write(tmp_path / "y", "experiment: py\nparams: {lr: 0.1, tag: a, x: {a: 1}}\nsteps:\n  s: echo\n")
    with pytest.raises(SpecError, match="params.x: " + re.escape(YAML_MESSAGE)):
        runyard.spec.load_spec(yaml_error)
    db = home / "runyard.db"
    before = db.read_bytes()
    with runyard.open(str(home)) as yard, pytest.raises(SpecError) as info:
        yard.submit("py", **values)
    assert message in str(info.value) and "KeyError" not in str(info.value)
    assert db.read_bytes() == before
    experiment = runyard.Experiment("py2", steps={"s": "echo {lr} {tag}"}, params={"lr": 0.1, "tag": "a"},
                                    folder=folder, home=tmp_path / "home2")
    with pytest.raises(SpecError) as info:
        experiment.plan(**values)
    assert message in str(info.value)
    with pytest.raises(SpecError) as info:
        experiment.run(**values)
    assert message in str(info.value)
    assert not (tmp_path / "home2").exists()
    with pytest.raises(SpecError, match="params.lr: " + re.escape(YAML_MESSAGE)):
        runyard.Experiment("py3", steps={"s": "echo {lr}"}, params={"lr": {"a": 1}}, folder=folder).spec()
    assert os.listdir(folder) == ["runyard.yaml"]


def test_a_python_spec_that_holds_itself_is_refused(tmp_path: Path) -> None:
    data: dict[str, object] = {"experiment": "x", "steps": {"s": "echo"}}
    data["params"] = {"me": data}
    with pytest.raises(SpecError, match=r"params\.me\.params: nested deeper than 64 levels"):
        runyard.spec.spec_from_dict(data, folder=tmp_path)
