"""Safety (DESIGN §10): hostile param values reach the program as exactly one literal argument, and never
put a run or execution folder outside home. Checked by really running the rendered commands with bash."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from runyard.errors import SpecError
from runyard.model import Plan
from runyard.spec import expand, parse_overrides, spec_from_dict
from runyard.spec.render import value_text

from .helpers import argv_of, inside

PIECES = ["'", '"', ";", "$(touch pwned)", "`touch pwned`", "\n", "../", "..", "/", "ü", "✓", "", " ", "\\",
          "$HOME", "${HOME}", "{v}", "[w]", "{out}", "-", "--", "*", "?", "~", "=", ",", "\t", "\r", "!", "#", "&",
          "|", ">", "<", "%s", "\\0", "💥", "\u202e", "'\"'\"'"]
TEXT = st.characters(codec="utf-8", exclude_characters="\x00")
VALUES = st.one_of(st.text(TEXT, max_size=24), st.lists(st.sampled_from(PIECES), max_size=6).map("".join))
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

SHOW = "printf '%s\\0' START {v} [w] --glued={v} {v}/tail pre{w}post {name} END"


def hostile_plan(home: Path, folder: Path, v: str, w: str) -> Plan:
    spec = spec_from_dict({
        "experiment": "e",
        "params": {"v": "x", "w": "y", "other": "z"},
        "steps": {"show": SHOW, "star": "printf '%s\\0' {*} {out}", "hydra": "printf '%s\\0' {*hydra} {run}"},
        "sweeps": {"g": {"v": [v], "w": [w], "other": [v]}},
    }, folder=folder)
    return expand(spec, home=str(home))


def check_folders(plan: Plan, home: Path) -> None:
    runs_folder = str(home / plan.experiment / "runs")
    for run in plan.runs:
        assert inside(run.folder, str(home)), run.folder
        assert run.folder == f"{runs_folder}/{run.name}" and "/" not in run.name
        assert run.name not in ("", ".", "..") and not run.name.startswith(".")
    for ex in plan.executions:
        assert inside(ex.folder, str(home)), ex.folder


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "a home with 'quotes' \"and\" $(spaces)"


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    folder = tmp_path / "cwd"
    folder.mkdir()
    return folder


@SETTINGS
@given(v=VALUES, w=VALUES)
@example(v="$(touch pwned)", w="`touch pwned`")
@example(v="", w="")
@example(v="'; touch pwned; echo '", w="\n touch pwned \n")
@example(v="../../../../etc", w="..")
def test_hostile_values_are_one_literal_argument_and_stay_in_home(home: Path, cwd: Path, v: str, w: str) -> None:
    plan = hostile_plan(home, cwd.parent, v, w)
    run = plan.runs[0]
    show, star, hydra = (plan.execution(key) for _, key in run.steps)
    assert argv_of(show.command, cwd) == ["START", v, "--w", w, f"--glued={v}", f"{v}/tail", f"pre{w}post",
                                          run.name, "END"]
    assert argv_of(star.command, cwd) == ["--v", v, "--w", w, "--other", v, f"{star.folder}/out"]
    assert argv_of(hydra.command, cwd) == [f"v={v}", f"w={w}", f"other={v}", run.folder]
    assert not any(cwd.iterdir()), "something was executed"
    check_folders(plan, home)


@SETTINGS
@given(text=st.text(TEXT, min_size=1, max_size=24).filter(lambda t: "," not in t and not t.lstrip().startswith("[")))
@example(text="$(touch pwned)")
@example(text="true")
@example(text="null")
@example(text="'a b'")
def test_hostile_overrides_render_to_their_value(home: Path, cwd: Path, text: str) -> None:
    spec = spec_from_dict({"experiment": "e", "params": {"v": "x"}, "steps": {"s": "printf '%s\\0' {v} [v]"}},
                          folder=cwd.parent)
    overrides = parse_overrides(spec, [f"v={text}"])
    (value,) = overrides[0].values
    plan = expand(spec, home=str(home), overrides=overrides)
    flag = [] if value is None or value is False else ["--v"] if value is True else ["--v", value_text(value)]
    assert argv_of(plan.executions[0].command, cwd) == [value_text(value), *flag]
    assert not any(cwd.iterdir())
    check_folders(plan, home)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(experiment=st.one_of(st.text(TEXT, max_size=12), st.sampled_from(["..", ".", "../x", "/abs", "a/../..", "~"])),
       step=st.one_of(st.text(TEXT, max_size=12), st.sampled_from(["..", "../s", "s/t"])))
def test_hostile_experiment_and_step_names_are_refused_or_stay_in_home(home: Path, tmp_path: Path, experiment: str,
                                                                       step: str) -> None:
    try:
        spec = spec_from_dict({"experiment": experiment, "steps": {step: "echo {out} {run}"}}, folder=tmp_path)
    except SpecError:
        return
    check_folders(expand(spec, home=str(home)), home)
