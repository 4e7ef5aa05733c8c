"""Bad call steps: one clear message with its place, exit code 2, nothing written."""

from __future__ import annotations

import pytest

from .conftest import Project

GOOD = '''
def train(lr, seed=0):
    return {"loss": lr + seed}


NOT_A_FUNCTION = 3


def many(*args):
    return 1


def listy(layers=(64, 64)):
    return 1


def other_seed(seed=5):
    return 1


def named(name="x"):
    return 1
'''


def _check(project: Project, spec: str, *expected: str, args: tuple[str, ...] = ()) -> str:
    project.file("steps.py", GOOD)
    project.spec(spec)
    proc = project.run("run", *args, PYTHONDONTWRITEBYTECODE="")
    assert proc.code == 2, proc
    assert "Traceback" not in proc.output
    for text in expected:
        assert text in proc.stderr, proc
    assert not project.home.exists()  # nothing written
    assert not (project.root / "__pycache__").exists()
    return proc.stderr


@pytest.mark.parametrize(("step", "expected"), [
    ("nosuch.module:train", ["runyard.yaml:3: steps.train.call: cannot import module 'nosuch.module' (searched "
                             "first in ", "ModuleNotFoundError: No module named 'nosuch'"]),
    ("steps:trian", ["runyard.yaml:3: steps.train.call: module 'steps' (", "has no attribute 'trian'; did you mean "
                     "'train'?"]),
    ("steps:NOT_A_FUNCTION", ["steps.train.call: steps:NOT_A_FUNCTION is not callable (it is of type int)"]),
    ("steps:many", ["parameter 'args' of steps:many: *args and **kwargs cannot be params"]),
    ("steps:listy", ["parameter 'layers' of steps:listy has the default (64, 64) (tuple); params are single values"]),
    ("steps:named", ["parameter 'name' of steps:named: 'name' is a builtin placeholder"]),
    ("steps train", ["steps.train.call: 'steps train' is not a callable path: write package.module:function"]),
])
def test_a_bad_callable_is_a_spec_error_with_its_place(project: Project, step: str, expected: list[str]) -> None:
    _check(project, f"experiment: e\nsteps:\n  train: {{call: '{step}'}}\n", *expected)


def test_an_error_raised_by_the_module_at_import_is_reported(project: Project) -> None:
    project.file("broken.py", "import os\nraise RuntimeError('no data folder')\n")
    _check(project, "experiment: e\nsteps:\n  a: {call: 'broken:f'}\n",
           "steps.a.call: cannot import module 'broken'", "RuntimeError: no data folder")


def test_a_syntax_error_in_the_module_is_reported(project: Project) -> None:
    project.file("broken.py", "def f(:\n")
    _check(project, "experiment: e\nsteps:\n  a: {call: 'broken:f'}\n", "SyntaxError")


def test_a_param_without_default_must_be_given(project: Project) -> None:
    message = _check(project, "experiment: e\nsteps:\n  train: {call: 'steps:train'}\n",
                     "runyard.yaml: steps.train.call: parameter 'lr' of steps:train has no default and run "
                     "'default' gives it no value: set it under params:, in a sweep, or on the command line "
                     "(lr=VALUE)")
    assert message.count("parameter 'lr'") == 1
    proc = project.run("run", "lr=0.5")  # given on the command line: fine
    assert proc.code == 0, proc


def test_a_param_without_default_set_by_a_sweep_is_fine(project: Project) -> None:
    project.file("steps.py", GOOD)
    project.spec("experiment: e\nsteps:\n  train: {call: 'steps:train'}\nsweeps:\n  s: {lr: [0.1, 0.2]}\n")
    proc = project.run("plan")
    assert proc.code == 0, proc
    assert "lr=0.1" in proc.stdout and "lr=0.2" in proc.stdout


def test_two_functions_with_different_defaults_for_one_param(project: Project) -> None:
    _check(project, "experiment: e\nsteps:\n  a: {call: 'steps:other_seed'}\n  b: {call: 'steps:train'}\n"
                    "params: {lr: 1}\n  ",
           "steps.b.call: param 'seed' has the default 0 here and 5 in steps:other_seed; set it under params:")


def test_run_and_call_together_and_unknown_override(project: Project) -> None:
    _check(project, "experiment: e\nsteps:\n  a: {call: 'steps:train', run: echo}\n",
           "steps.a.call: a step has either `run:` (a shell command) or `call:` (a Python function), not both")
    project.spec("experiment: e\nparams: {lr: 1}\nsteps:\n  a: {call: 'steps:train'}\n")
    proc = project.run("run", "seeds=1,2")
    assert proc.code == 2 and "'seeds' is not a param; did you mean 'seed'?" in proc.stderr, proc
    assert not project.home.exists()


def test_plan_imports_without_writing_bytecode(project: Project) -> None:
    project.file("pkg/__init__.py", "")
    project.file("pkg/steps.py", GOOD)
    project.spec("experiment: e\nparams: {lr: 1}\nsteps:\n  a: {call: 'pkg.steps:train'}\n")
    proc = project.run("plan", PYTHONDONTWRITEBYTECODE="")
    assert proc.code == 0, proc
    assert "python -m runyard.call pkg.steps:train --params '{\"lr\": 1, \"seed\": 0}'" in proc.stdout
    assert not list(project.root.rglob("__pycache__"))
    assert not project.home.exists()


def test_a_module_that_exits_at_import_is_a_spec_error(project: Project) -> None:
    project.file("quits.py", "import sys\nprint('loading quits')\nsys.exit(3)\n")
    message = _check(project, "experiment: e\nsteps:\n  a: {call: 'quits:f'}\n",
                     "steps.a.call: cannot import module 'quits'", "SystemExit: 3")
    assert "loading quits" in message  # what the module prints at import goes to stderr, never stdout


def test_what_a_module_prints_at_import_stays_off_stdout(project: Project) -> None:
    project.file("chatty.py", "print('hello from chatty')\n\ndef f(x=1):\n    return x\n")
    project.spec("experiment: e\nsteps:\n  a: {call: 'chatty:f'}\n")
    proc = project.run("plan")
    assert proc.code == 0, proc
    assert "hello from chatty" not in proc.stdout and "hello from chatty" in proc.stderr
