"""Rendering: every placeholder, mlrunner flag semantics, quoting, placeholders inside quotes."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from runyard.errors import SpecError
from runyard.spec import template
from runyard.spec.render import flag, hydra_value, quote, value_text

from .helpers import argv_of, by_name, load, plan_text, step_of

PARAMS = textwrap.dedent("""
    experiment: e
    params: {s: hello, n: 3, f: 0.5, t: true, b: false, z: null, e: "", sp: "a b"}
    """)


def command(tmp_path: Path, run: str, *overrides: str, extra: str = "") -> str:
    plan = plan_text(tmp_path, PARAMS + f"steps:\n  x: {run}\n" + extra, *overrides)
    return plan.executions[-1].command


@pytest.mark.parametrize(("tpl", "expected"), [
    ("echo {s} {n} {f}", "echo hello 3 0.5"),
    ("echo {t} {b} {z} {e} {sp}", "echo true false '' '' 'a b'"),
    ("echo [s] [n] [f]", "echo --s hello --n 3 --f 0.5"),
    ("echo [t] [b] [z] [e] [sp]", "echo --t --e '' --sp 'a b'"),
    ("echo [b] x [z]", "echo x"),
    ("echo --x={sp} pre{s}post", "echo --x='a b' prehellopost"),
    ("echo {{s}} {{ }} }}", "echo {s} { } }"),
    ("echo ${HOME} $s", "echo ${HOME} $s"),
    ("awk '{print $1}' \\[nota] log[12] [ -f x ]", "awk '{print $1}' \\[nota] log[12] [ -f x ]"),
    ("echo {_time}", 'echo "$RUNYARD_TIME"'),
    ("echo \\{s}", "echo \\{s}"),
])
def test_placeholders(tmp_path: Path, tpl: str, expected: str) -> None:
    assert command(tmp_path, tpl) == expected


def test_flag_and_quote_functions() -> None:
    assert flag("lr", 0.1) == "--lr 0.1"
    assert flag("early-stop", True) == "--early-stop"
    assert flag("early-stop", False) == ""
    assert flag("x", None) == ""
    assert flag("x", "a'b") == "--x 'a'\"'\"'b'"
    assert quote("a b") == "'a b'" and quote(None) == "''" and quote(True) == "true"
    assert value_text(1.0) == "1.0" and value_text(None) == "" and value_text(False) == "false"
    assert hydra_value(None) == "null" and hydra_value(True) == "true"


def test_builtins_out_step_out_run_name(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, """
        experiment: e
        params: {a: 1}
        steps:
          prep: make --out {out}
          mid: echo {a}
          train: train --data {prep.out}/d --run {run} --name {name} --out {out}
        sweeps:
          g: {a: [1, 2]}
        """)
    run = by_name(plan)["a=2"]
    prep, mid, train = (step_of(plan, run, s) for s in ("prep", "mid", "train"))
    assert prep.command == f"make --out {prep.folder}/out"
    assert train.command == (f"train --data {prep.folder}/out/d --run {run.folder} --name a=2 "
                             f"--out {train.folder}/out")
    # {prep.out} adds the dependency: train needs prep (not mid, the step before it)
    assert train.needs == (prep.key,)
    assert mid.needs == (prep.key,)


def test_out_folders_with_spaces_and_quotes_are_quoted(tmp_path: Path) -> None:
    spec_dir = tmp_path / "sp"
    load(spec_dir, "experiment: e\nsteps:\n  a: printf '%s\\0' {out}\n  b: printf '%s\\0' {a.out} {run} {name}\n")
    from runyard.spec import expand, load_spec

    home = tmp_path / "my home's \"dir\" $(x)"
    plan = expand(load_spec(spec_dir), home=str(home))
    a, b = plan.executions
    assert argv_of(a.command) == [os.path.join(a.folder, "out")]
    assert argv_of(b.command) == [os.path.join(a.folder, "out"), plan.runs[0].folder, "default"]


def test_star_and_hydra_pass_every_param_not_referenced_otherwise(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, """
        experiment: e
        params: {lr: 0.1, seed: 1, tag: "a b", on: true, off: false, none: null, opt: adam}
        groups:
          opt: {adam: {beta: 0.9}}
        steps:
          argparse: python main.py --lr {lr} {*}
          hydra: python main.py seed={seed} {*hydra}
        """)
    argparse, hydra = plan.executions
    # group selectors are left out (their values are there); false and null flags give nothing
    assert argparse.command == "python main.py --lr 0.1 --seed 1 --tag 'a b' --on --beta 0.9"
    # {*hydra} passes what the run sets (the group's values), not the defaults: the app's config has its own
    assert hydra.command == "python main.py seed=1 beta=0.9"


@pytest.mark.parametrize(("tpl", "bad"), [
    ("echo '{s}'", "{s}"), ('echo "{s}"', "{s}"), ("echo \"x [s] y\"", "[s]"), ("echo 'a'\"b{out}\"", "{out}"),
    ("echo \"it's {n}\"", "{n}"),
])
def test_placeholder_inside_quotes_is_an_error(tmp_path: Path, tpl: str, bad: str) -> None:
    with pytest.raises(SpecError) as info:
        command(tmp_path, repr_yaml(tpl))
    assert f"placeholder {bad} is inside quotes: remove the quotes, runyard quotes every value itself" in str(
        info.value)


def repr_yaml(text: str) -> str:
    """A YAML double-quoted scalar for ``text``."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def test_quotes_without_placeholders_are_fine(tmp_path: Path) -> None:
    assert command(tmp_path, repr_yaml("echo 'a b' \"c {{d}}\" {s}")) == "echo 'a b' \"c {d}\" hello"


def test_unterminated_quote(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="unterminated ' quote"):
        command(tmp_path, repr_yaml("echo 'oops {s}"))


def test_template_tokens() -> None:
    tokens = template.parse("a {p} [p] {out} {s.out} {run} {name} {*} {*hydra} {_output} {_name} {_time}",
                            ["p"], ["s"])
    refs = [(t.kind, t.name) for t in tokens if isinstance(t, template.Ref)]
    assert refs == [("param", "p"), ("flag", "p"), ("out", "out"), ("step_out", "s"), ("run", "run"),
                    ("name", "name"), ("all", "*"), ("hydra", "*hydra"), ("run", "run"), ("name", "name"),
                    ("time", "time")]


def test_every_problem_of_a_template_is_listed() -> None:
    with pytest.raises(template.TemplateError) as info:
        template.parse("{lrr} {x.out} '{p}'", ["lr", "p"], ["prep"])
    assert str(info.value) == (
        "placeholder {lrr} resolves to nothing; did you mean {lr}? (params: lr, p; builtins: {out} {run} "
        "{name} {*} {*hydra} {STEP.out}); placeholder {x.out} names no step; did you mean {out}? "
        "(step outputs: {prep.out}); "
        "placeholder {p} is inside quotes: remove the quotes, runyard quotes every value itself")


HOSTILE = ["it's", 'say "hi"', "a; rm -rf /", "$(touch pwned)", "`touch pwned`", "line1\nline2", "../../etc/passwd",
           "ünïcødé ✓", "", " ", "-rf", "--", "*", "~", "$HOME", "{s}", "\\", "\\'", "a\tb", "!!", "#c", "&&",
           "|", ">x", "<y"]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_reach_the_program_as_one_literal_argument(tmp_path: Path, value: str) -> None:
    from runyard.spec import expand, spec_from_dict

    spec = spec_from_dict({
        "experiment": "e", "params": {"v": "x", "w": "y"},
        "steps": {"show": "printf '%s\\0' START {v} [w] --glued={v} {v}/tail {*} END",
                  "hydra": "printf '%s\\0' {*hydra}"},
        "sweeps": {"g": {"v": [value], "w": [value]}},
    }, folder=tmp_path)
    plan = expand(spec, home=str(tmp_path / "home"))
    show, hydra = plan.executions
    work = tmp_path / "cwd"
    work.mkdir()
    assert argv_of(show.command, cwd=work) == ["START", value, "--w", value, f"--glued={value}", f"{value}/tail",
                                               "END"]
    assert argv_of(hydra.command, cwd=work) == [f"v={value}", f"w={value}"]
    assert not any(work.iterdir())  # nothing was executed
